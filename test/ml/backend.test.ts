import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../../src/ml/backend.js'

test('initBackend: wasm where tfjs-node is absent, once per process, with a reason', async () => {
  const first = await initBackend('wasm')
  expect(first.name).toBe('wasm')
  expect(first.reason).toMatch(/^wasm \(SIMD (on|off), (1 thread|multi-threaded)\)/)
  expect(tf.getBackend()).toBe('wasm')
  // Idempotent: a later call, whatever it asks, gets the first answer.
  expect(await initBackend('cpu')).toBe(first)
  expect(tf.getBackend()).toBe('wasm')
})
