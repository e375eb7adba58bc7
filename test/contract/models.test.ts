/**
 * The model document schema (src/contract/models.ts) is what GET /models and GET /models/:id serialise through, so
 * a field it lacks would be dropped from the answer. The compile-time checks below tie it to the metadata the store
 * writes, both ways; the runtime ones check real documents.
 */
import { Value } from 'typebox/value'
import type { Static } from 'typebox'
import { MetricsSchema } from '../../src/contract/metrics.js'
import { ModelSchema, type ModelDocument } from '../../src/contract/models.js'
import { EpochSchema, type EpochRecord } from '../../src/contract/jobs.js'
import type { Metrics } from '../../src/contract/metrics.js'
import { evaluate } from '../../src/ml/evaluate.js'
import type { EpochLog } from '../../src/ml/train.js'
import type { ModelMetadata } from '../../src/storage/models.js'

// The store's metadata, ml/evaluate's metrics and the job's epoch records are the contract's types (declared once,
// there), so only the runtime shapes need checking here. Compile-time: every epoch the ML core logs is a record.
const toDocument = (metadata: ModelMetadata): ModelDocument => metadata
const toMetrics = (metrics: Metrics): Static<typeof MetricsSchema> => metrics
const toEpochRecord = (log: EpochLog): EpochRecord => log

test('metrics computed by ml/evaluate, nulls included, are valid against MetricsSchema', () => {
  const labels = ['a', 'b', 'c']
  // Class c has no support and nothing predicted as it: its precision and recall are null.
  const metrics = evaluate([0, 0, 1, 1], [[0.9, 0.1, 0], [0.2, 0.8, 0], [0.3, 0.7, 0], [0.6, 0.4, 0]], labels, [2])
  expect(metrics.perClass.some((c) => c.recall === null)).toBe(true)
  expect([...Value.Errors(MetricsSchema, toMetrics(metrics))]).toEqual([])
})

test('a model document with every optional field set is valid, and one missing metrics is not', () => {
  const document = toDocument({
    id: 'm1',
    name: 'cats',
    createdAt: new Date(0).toISOString(),
    labels: ['a', 'b'],
    base: { id: 'mobilenet_v2', inputSize: 224, preprocessing: 'scale_0_1', format: 'layers-model' },
    metrics: evaluate([0, 1], [[0.9, 0.1], [0.4, 0.6]], ['a', 'b'], []),
    history: [{ epoch: 1, loss: 0.5, accuracy: 0.8, valLoss: 0.6, valAccuracy: 0.7, learningRate: 0.001, seconds: 1.2 }],
    evaluatedOn: 'validation',
    bestEpoch: 1,
    misclassified: [{ path: 'images/a/1.png', true: 'a', predicted: 'b', score: 0.7 }],
    warnings: [],
    classWeights: null,
    fineTuned: null,
    trainViews: 2,
    labelIssues: [{ path: 'images/a/1.png', label: 'a', suggested: 'b', confidence: 0.4 }],
    nearDuplicates: [{ a: 'images/a/1.png', b: 'images/b/2.png', similarity: 0.99, crossClass: true, crossSplit: false }],
    jobId: 'm1',
    datasetId: 'd1',
    params: { datasetId: 'd1' },
  })
  expect([...Value.Errors(ModelSchema, document)]).toEqual([])
  const { metrics: _metrics, ...withoutMetrics } = document
  expect(Value.Check(ModelSchema, withoutMetrics)).toBe(false)
})

test('an epoch as the ML core logs it is a valid epoch record', () => {
  const record = toEpochRecord({ epoch: 3, phase: 'fineTune', loss: 0.4, accuracy: 0.9, valLoss: 0.5, valAccuracy: 0.85, learningRate: 1e-4, seconds: 2.5 })
  expect([...Value.Errors(EpochSchema, record)]).toEqual([])
  expect(Value.Check(EpochSchema, { ...record, seconds: 'slow' })).toBe(false)
})
