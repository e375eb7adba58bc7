import { scopedStore, type BlobStore } from './blob-store.js'
import { localBlobStore } from './local-blob-store.js'
import { isId } from './layout.js'

/** `jobs/<jobId>/checkpoint/head.bin`: the bytes ml's checkpoint codec makes. */
const HEAD_KEY = 'checkpoint/head.bin'
/** The result a job saved just before publishing its model, for an attempt that finds the model already there. */
const RESULT_KEY = 'result.json'

/**
 * A running job's scratch space in the store (`jobs/<jobId>/`): its latest head checkpoint and its result. In the
 * shared store, so a job whose worker died resumes from its last epoch on any other worker.
 */
export interface CheckpointStore {
  /** Replaces the job's checkpoint (one object write: readers see the old or the new one). */
  save(jobId: string, checkpoint: Uint8Array): Promise<void>
  /** The job's checkpoint bytes, if any; ml's `decodeCheckpoint` checks they belong to the model. */
  load(jobId: string): Promise<Uint8Array | undefined>
  /** `result` is the job's TrainResult (plain JSON). */
  saveResult(jobId: string, result: object): Promise<void>
  loadResult(jobId: string): Promise<unknown>
  /** Removes the job's scratch space (the job has ended: completed, cancelled or failed for good); idempotent. */
  remove(jobId: string): Promise<void>
}

/** Checkpoints under `jobs/` of the store, or directly under a local folder given its path. */
export function createCheckpointStore(where: string | BlobStore): CheckpointStore {
  const store = typeof where === 'string' ? localBlobStore(where) : scopedStore(where, 'jobs')
  const job = (jobId: string) => {
    if (!isId(jobId)) throw new Error(`invalid job id for a checkpoint: ${jobId}`)
    return jobId
  }
  const key = (jobId: string, name: string) => `${job(jobId)}/${name}`
  return {
    save: (jobId, checkpoint) => store.put(key(jobId, HEAD_KEY), checkpoint),
    load: (jobId) => store.get(key(jobId, HEAD_KEY)),
    saveResult: (jobId, result) => store.put(key(jobId, RESULT_KEY), `${JSON.stringify(result, null, 2)}\n`),
    async loadResult(jobId) {
      const bytes = await store.get(key(jobId, RESULT_KEY))
      return bytes && (JSON.parse(bytes.toString('utf8')) as unknown)
    },
    async remove(jobId) {
      await store.deletePrefix(job(jobId))
    },
  }
}
