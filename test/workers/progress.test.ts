import { createProgressTracker } from '../../workers/progress.js'

describe('createProgressTracker', () => {
  test('percent never decreases, even when a phase reports less', () => {
    let now = 0
    const tracker = createProgressTracker(10, () => now)
    now = 1_000
    expect(tracker.update('extracting', 1).percent).toBe(40)
    now = 2_000
    expect(tracker.update('extracting', 0.1).percent).toBe(40)
    expect(tracker.update('training', 0.5).percent).toBe(65)
  })

  test('ETA scales elapsed time by the work left and is 0 when done', () => {
    let now = 0
    const tracker = createProgressTracker(4, () => now)
    now = 10_000
    expect(tracker.update('training', 0).etaSeconds).toBe(15) // 40 % in 10 s → 60 % left takes 15 s
    expect(tracker.update('done', 1)).toMatchObject({ percent: 100, etaSeconds: 0 })
  })

  test('accumulates the epoch history and the current epoch', () => {
    const tracker = createProgressTracker(2)
    tracker.update('training', 0.5, { epoch: 1, loss: 1, accuracy: 0.5, seconds: 1 })
    const state = tracker.update('training', 1, { epoch: 2, loss: 0.5, accuracy: 0.9, seconds: 1 })
    expect(state.epoch).toBe(2)
    expect(state.history.map((h) => h.loss)).toEqual([1, 0.5])
  })
})

describe('createProgressTracker across attempts', () => {
  test('a later attempt never reports less than the last one, and its ETA counts only its own progress', () => {
    let now = 0
    const tracker = createProgressTracker(10, () => now, { percent: 50 })
    expect(tracker.update('extracting', 1).percent).toBe(50)
    now = 10_000
    expect(tracker.update('training', 0.5)).toMatchObject({ percent: 65, etaSeconds: 23 }) // 15 points in 10 s, 35 left
  })

  test('a resumed attempt keeps the checkpoint history and says where it resumed', () => {
    const tracker = createProgressTracker(3)
    tracker.resume(2, [
      { epoch: 1, loss: 1, accuracy: 0.5, seconds: 1 },
      { epoch: 2, loss: 0.8, accuracy: 0.6, seconds: 1 },
    ])
    const state = tracker.update('training', 1, { epoch: 3, loss: 0.5, accuracy: 0.9, seconds: 1 })
    expect(state).toMatchObject({ epoch: 3, resumedFromEpoch: 2 })
    expect(state.history.map((h) => h.epoch)).toEqual([1, 2, 3])
  })
})
