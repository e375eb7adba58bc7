/**
 * Entry of one prediction thread (see `predictor.ts`): its own tfjs backend instance and model LRU. Models are read
 * through the pool's host, the predictor's own model source, so the thread opens no store of its own.
 */
import { initBackend } from './backend.js'
import { createModelRunner, runnerMemory } from './model-runner.js'
import type { ModelRead, PredictRequest, PredictThreadData } from './predictor.js'
import { callHost, movable, serveThread } from './thread-pool.js'

serveThread<PredictRequest, unknown>(async (data) => {
  const { backend, maxLoaded } = data as PredictThreadData
  await initBackend(backend)
  const runner = createModelRunner({
    models: {
      getMetadata: (modelId) => callHost({ type: 'metadata', modelId } satisfies ModelRead),
      load: (modelId) => callHost({ type: 'load', modelId } satisfies ModelRead),
    },
    maxLoaded,
  })
  return async (request) => {
    switch (request.type) {
      case 'run': {
        const res = movable(await runner.run(request.modelId, request.pixels))
        return { res, transfer: [res.buffer as ArrayBuffer] }
      }
      case 'evict':
        return { res: await runner.evict(request.modelId) }
      case 'memory':
        return { res: runnerMemory(runner) }
    }
  }
})
