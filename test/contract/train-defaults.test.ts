/** One TRAIN_DEFAULTS: what POST /jobs fills in is what a job queued before an option existed runs with. */
import { TRAIN_DEFAULTS, trainOptions, withTrainDefaults } from '../../src/contract/jobs.js'

test('an old payload without the newer options gets the defaults POST /jobs gives today', () => {
  const old = { epochs: 5, batchSize: 16, learningRate: 0.01, validationSplit: 0.2, seed: 3 }
  const today = trainOptions({ datasetId: 'd', epochs: 5, batchSize: 16, learningRate: 0.01, validationSplit: 0.2, seed: 3 }, ['a', 'b'])
  const filled = withTrainDefaults(old)
  for (const key of ['optimizer', 'labelSmoothing', 'dropout', 'hiddenUnits', 'classWeights', 'fineTuneLayers', 'refit'] as const) expect(filled[key]).toEqual(today[key])
  expect(filled.dropout).toBe(TRAIN_DEFAULTS.dropout)
})

test('options the payload has are kept, falsy ones included', () => {
  const given = { epochs: 5, batchSize: 16, learningRate: 0.01, validationSplit: 0.2, seed: 3, dropout: 0, labelSmoothing: 0.1, classWeights: 'none' as const, optimizer: 'sgd' as const, refit: false }
  expect(withTrainDefaults(given)).toMatchObject({ dropout: 0, labelSmoothing: 0.1, classWeights: 'none', optimizer: 'sgd', refit: false })
})
