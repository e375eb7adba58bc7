import { AppError } from '../errors.js'
import type { BlobStore } from '../storage/blob-store.js'
import { projectStore, storedBytes } from '../storage/project-store.js'
import { limitName, type ProjectRegistry } from './projects.js'

/** The per-project quotas checked before work is accepted; rates are checked by the HTTP edge's rate limiter. */
export interface QuotaChecks {
  /** @throws AppError TOO_MANY_QUEUED_JOBS when `unfinished` jobs of the project already reach its quota */
  queuedJobs(projectId: string, unfinished: number): Promise<void>
  /**
   * @throws AppError STORAGE_QUOTA_EXCEEDED when the project holds its storage quota already, or would with
   * `incoming` more bytes (an upload's Content-Length)
   */
  storage(projectId: string, incoming?: number): Promise<void>
}

/** Quota checks against each project's limits (the registry's copy) and its bytes in `store` (the shared store). */
export function createQuotaChecks(registry: Pick<ProjectRegistry, 'quota'>, store: BlobStore): QuotaChecks {
  return {
    async queuedJobs(projectId, unfinished) {
      const { quota, override } = await registry.quota(projectId)
      if (unfinished < quota.queuedJobs) return
      throw new AppError('TOO_MANY_QUEUED_JOBS', `${quota.queuedJobs} jobs of project ${projectId} are queued or running already`, {
        limit: limitName('queuedJobs', override),
        max: quota.queuedJobs,
      })
    },
    async storage(projectId, incoming = 0) {
      const { quota, override } = await registry.quota(projectId)
      if (quota.storedBytes === 0) return
      // Measured on each call (a listing of the project's folders): uploads and jobs are rare next to reads.
      const held = await storedBytes(projectStore(store, projectId))
      // At the quota nothing more goes in; below it, an upload whose length would pass it is refused up front.
      if (held < quota.storedBytes && held + incoming <= quota.storedBytes) return
      throw new AppError('STORAGE_QUOTA_EXCEEDED', `project ${projectId} holds ${held} bytes of its ${quota.storedBytes}${incoming ? `; ${incoming} more do not fit` : ''}`, {
        limit: limitName('storedBytes', override),
        max: quota.storedBytes,
        used: held,
      })
    },
  }
}
