import type { EpochRecord } from '../../src/queue/jobs.js'
import { createProgressTracker } from '../../workers/progress.js'

const epochOf = (epoch: number, seconds: number): EpochRecord => ({ epoch, loss: 1 / epoch, accuracy: 0.5, seconds })

describe('createProgressTracker', () => {
  test('percent never decreases, even when a phase reports less', () => {
    let now = 0
    const tracker = createProgressTracker(10, () => now)
    tracker.update('extracting', 0)
    now = 10_000
    const extracted = tracker.update('extracting', 1).percent
    expect(extracted).toBe(20)
    now = 11_000
    expect(tracker.update('extracting', 0.1).percent).toBe(extracted)
    expect(tracker.update('training', 0).percent).toBe(extracted)
  })

  test('a 500-epoch job claims no ETA before its first epoch, then epochs left × seconds per epoch', () => {
    // The case that read "40% · about 1 s left" at epoch 0 and then took 177 s.
    let now = 0
    const tracker = createProgressTracker(500, () => now)
    tracker.update('preparing', 1)
    tracker.update('extracting', 0)
    now = 300
    tracker.update('extracting', 1)
    const start = tracker.update('training', 0)
    expect(start.etaSeconds).toBeNull()
    expect(start.percent).toBeLessThan(5)
    now = 650
    const first = tracker.update('training', 1 / 500, epochOf(1, 0.35))
    expect(first.etaSeconds).toBe(Math.round(0.35 * 500)) // 499 epochs left + one for evaluating and saving
    expect(first.percent).toBeLessThan(5) // only preparing and 0.3 s of extraction are behind it
    now = 650 + 249 * 350
    expect(tracker.update('training', 0.5, epochOf(250, 0.35)).percent).toBeCloseTo(50, -1)
  })

  test('while extracting, the ETA is the extraction left at its measured rate', () => {
    // An InceptionV3 job showed 7 min 32 s while about 3 min remained: the old ETA scaled by the bar's weights.
    let now = 0
    const tracker = createProgressTracker(20, () => now)
    tracker.update('extracting', 0)
    now = 60_000
    expect(tracker.update('extracting', 0.25).etaSeconds).toBe(180)
    now = 120_000
    expect(tracker.update('extracting', 0.5).etaSeconds).toBe(120)
  })

  test('features read from the cache do not make the bar jump', () => {
    let now = 0
    const tracker = createProgressTracker(20, () => now)
    tracker.update('preparing', 1)
    tracker.update('extracting', 0)
    now = 150
    expect(tracker.update('extracting', 1).percent).toBeLessThan(3)
    now = 1_150
    const first = tracker.update('training', 1 / 20, epochOf(1, 1))
    expect(first.percent).toBeGreaterThan(3)
    expect(first.percent).toBeLessThan(10) // about 1 s of about 21 s
    expect(first.etaSeconds).toBe(20)
  })

  test('the ETA follows recent epochs (fine-tuning epochs cost more) and is 0 when done', () => {
    let now = 0
    const tracker = createProgressTracker(6, () => now)
    tracker.update('training', 0)
    for (let e = 1; e <= 3; e++) {
      now += 1_000
      tracker.update('training', e / 6, epochOf(e, 1))
    }
    now += 3_000
    const tuned = tracker.update('training', 4 / 6, { ...epochOf(4, 4), phase: 'fineTune' })
    expect(tuned.etaSeconds).toBe(Math.round(((1 + 1 + 4) / 3) * 3)) // 2 epochs left + 1 for the tail
    expect(tracker.update('evaluating', 0).etaSeconds).toBe(Math.round((1 + 1 + 4) / 3))
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
  test('a later attempt never reports less than the last one', () => {
    let now = 0
    const tracker = createProgressTracker(10, () => now, { percent: 50 })
    expect(tracker.update('extracting', 1).percent).toBe(50)
    now = 10_000
    expect(tracker.update('training', 0.5, epochOf(5, 10)).percent).toBe(50) // 10 s of about 70 s
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
