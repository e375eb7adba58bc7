import type { Redis } from 'ioredis'

import { DEFAULT_PROJECT_ID } from '../contract/projects.js'

/**
 * Every job's id in the order it was queued, one index per project, for `GET /jobs` newest first with a stable
 * cursor (BullMQ keeps one set per state, each in its own order). Members are `<queuedAt ms, 16 digits>:<jobId>` at
 * score 0, so the lexicographic order is the time order and a member is a cursor that new jobs cannot shift.
 * Per project, so a listing never reads (nor hands out as a cursor) another project's jobs.
 */
export const JOB_INDEX_KEY = 'index'

/** The queue key (before the queue's prefix) of a project's index: `default` keeps the index jobs had before projects. */
export function jobIndexKey(projectId: string): string {
  return projectId === DEFAULT_PROJECT_ID ? JOB_INDEX_KEY : `${JOB_INDEX_KEY}:${projectId}`
}

/** A cursor is an index member. */
export const CURSOR_PATTERN = '^[0-9]{16}:[a-z0-9][a-z0-9-]{0,63}$'

export function indexMember(queuedAt: number, jobId: string): string {
  return `${String(queuedAt).padStart(16, '0')}:${jobId}`
}

export function jobIdOf(member: string): string {
  return member.slice(17)
}

export function createJobIndex(client: Redis, key: string, retentionSeconds: number) {
  return {
    /**
     * Adds a job once (a repeated idempotent POST keeps its place). The index expires when no job has been added
     * for twice the retention: by then every finished job it names is gone.
     */
    async add(queuedAt: number, jobId: string): Promise<void> {
      await client.multi().zadd(key, 'NX', 0, indexMember(queuedAt, jobId)).expire(key, 2 * retentionSeconds).exec()
    },
    /** Up to `count` members older than `cursor` (or the newest ones), newest first. */
    page(cursor: string | undefined, count: number): Promise<string[]> {
      return client.zrange(key, cursor ? `(${cursor}` : '+', '-', 'BYLEX', 'REV', 'LIMIT', 0, count)
    },
    /** Drops members whose jobs BullMQ has removed (retention). */
    async prune(members: string[]): Promise<void> {
      if (members.length > 0) await client.zrem(key, ...members)
    },
    /** Forgets the index (a deleted project's). */
    async drop(): Promise<void> {
      await client.del(key)
    },
  }
}
