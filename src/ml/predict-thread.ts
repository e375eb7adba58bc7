/**
 * Entry of one prediction thread (see `predict-pool.ts`): its own tfjs backend instance and model LRU, answering
 * `PoolRequest`s with `PoolResponse`s. Started by `startThread`.
 */
import { parentPort } from 'node:worker_threads'
import { AppError } from '../errors.js'
import path from 'node:path'
import { localBlobStore } from '../storage/local-blob-store.js'
import { createProjectModelStore } from '../storage/project-models.js'
import { s3BlobStore } from '../storage/s3-blob-store.js'
import { parseStorageUrl } from '../storage/storage-url.js'
import { initBackend } from './backend.js'
import { createModelRunner, runnerMemory } from './model-runner.js'
import type { PoolRequest, PoolResponse, ThreadData } from './predict-pool.js'
import { threadData } from './thread-pool.js'

const data = threadData<ThreadData>()
const port = parentPort!
// Models load from the shared store: a replica serves every model any worker published, with no shared disk.
// Model ids come qualified by project (storage/project-models.ts); the store is the one `modelsDir` is `models/` of.
const models = createProjectModelStore(data.storageUrl ? s3BlobStore(parseStorageUrl(data.storageUrl)) : localBlobStore(path.dirname(data.modelsDir)))
const runner = createModelRunner({ models, maxLoaded: data.maxLoaded })
const ready = initBackend(data.backend)

async function handle(request: PoolRequest): Promise<unknown> {
  await ready
  switch (request.type) {
    case 'run':
      return runner.run(request.modelId, request.pixels)
    case 'evict':
      return runner.evict(request.modelId)
    case 'memory':
      return runnerMemory(runner)
    case 'close':
      return runner.close()
  }
}

port.on('message', (request: PoolRequest) => {
  handle(request).then(
    (value) => port.postMessage({ id: request.id, ok: true, value } satisfies PoolResponse),
    (err: unknown) => {
      const error = err instanceof AppError ? { code: err.code, message: err.message, details: err.details } : { message: err instanceof Error ? err.message : String(err) }
      port.postMessage({ id: request.id, ok: false, error } satisfies PoolResponse)
    },
  )
})
