import { toJobDocument, type JobSnapshot } from '../../src/queue/job-document.js'
import { failureReason, parseFailureReason } from '../../src/queue/jobs.js'

const base: JobSnapshot = {
  id: 'j1',
  state: 'waiting',
  data: { datasetId: 'd1', baseModel: 'mobilenet_v2', options: { epochs: 5, batchSize: 8, learningRate: 0.001, validationSplit: 0.2, seed: 1 } },
  progress: 0,
  returnvalue: null,
  failedReason: undefined,
  attemptsMade: 0,
  priority: 50,
  queuePosition: 2,
  processedBy: undefined,
  timestamp: Date.UTC(2026, 0, 1),
  processedOn: undefined,
  finishedOn: undefined,
}

describe('toJobDocument', () => {
  test('a waiting job is queued with empty progress', () => {
    expect(toJobDocument(base)).toMatchObject({ status: 'queued', phase: 'queued', progress: { epoch: 0, epochs: 5, percent: 0, etaSeconds: null }, startedAt: null })
  })

  test('only a queued job has a queue position; the worker that ran it stays', () => {
    expect(toJobDocument(base)).toMatchObject({ queuePosition: 2, worker: null, priority: 50 })
    const active = toJobDocument({ ...base, state: 'active', processedBy: 'box:42', processedOn: Date.UTC(2026, 0, 1, 1) })
    expect(active).toMatchObject({ queuePosition: null, worker: 'box:42', startedAt: '2026-01-01T01:00:00.000Z' })
  })

  test('a failed job carries the code from its reason', () => {
    const doc = toJobDocument({ ...base, state: 'failed', failedReason: failureReason('DATASET_NOT_FOUND', 'gone'), finishedOn: Date.UTC(2026, 0, 2) })
    expect(doc.status).toBe('failed')
    expect(doc.error).toEqual({ code: 'DATASET_NOT_FOUND', message: 'gone' })
    expect(doc.finishedAt).toBe('2026-01-02T00:00:00.000Z')
  })

  test('a cancelled job reads as cancelled, not failed', () => {
    expect(toJobDocument({ ...base, state: 'failed', failedReason: failureReason('JOB_CANCELLED', 'x') }).status).toBe('cancelled')
  })

  test('a completed job is at 100 % with its result', () => {
    const result = { modelId: 'm1', metrics: { accuracy: 1 }, trainCount: 8, valCount: 2, backend: 'wasm' }
    const doc = toJobDocument({ ...base, state: 'completed', returnvalue: result, progress: { phase: 'saving', percent: 97, epoch: 5, epochs: 5, etaSeconds: 1, history: [] } })
    expect(doc).toMatchObject({ status: 'completed', phase: 'done', progress: { percent: 100, etaSeconds: null }, result })
  })
})

describe('parseFailureReason', () => {
  test('an uncoded reason (a crash, a stalled job) becomes TRAINING_FAILED with the text kept', () => {
    expect(parseFailureReason('job stalled more than allowable limit')).toEqual({ code: 'TRAINING_FAILED', message: 'job stalled more than allowable limit' })
    expect(parseFailureReason('NOT_A_CODE: x').code).toBe('TRAINING_FAILED')
  })
})
