import { phaseFraction } from '../../src/ml/train-classifier.js'

test('a progress report converts to how far into its own phase it is', () => {
  // The worker weighs phases differently (workers/progress.ts): it needs the share within the phase, not the
  // run's percent, or extraction would end at a fraction of its span.
  expect(phaseFraction({ phase: 'extracting', percent: 0 })).toBe(0)
  expect(phaseFraction({ phase: 'extracting', percent: 30 })).toBe(0.5)
  expect(phaseFraction({ phase: 'extracting', percent: 60 })).toBe(1)
  expect(phaseFraction({ phase: 'training', percent: 60 })).toBe(0)
  expect(phaseFraction({ phase: 'training', percent: 95 })).toBeCloseTo(1)
  expect(phaseFraction({ phase: 'evaluating', percent: 100 })).toBe(1)
})
