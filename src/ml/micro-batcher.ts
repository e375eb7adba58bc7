export interface MicroBatcherOptions<T, R> {
  /** Items per run; a key's queue runs as soon as it holds this many. */
  maxBatch: number
  /** How long the oldest queued item waits for company before its key's queue runs anyway, ms. */
  maxDelayMs: number
  /** Runs one batch of items that share `key`; resolves with one result per item, in order. */
  run(key: string, items: T[]): Promise<R[]>
}

export interface MicroBatcher<T, R> {
  /** Queues `item` under `key` and resolves with its result from the batch it ran in. */
  submit(key: string, item: T): Promise<R>
}

interface Waiting<T, R> {
  item: T
  resolve: (result: R) => void
  reject: (err: unknown) => void
}

/**
 * Groups items submitted concurrently under the same key (a model id) into batches, the way TF Serving's batching
 * does: a batch runs when it is full or when its first item has waited `maxDelayMs`. A failed run fails every item
 * of that batch and nothing else.
 */
export function createMicroBatcher<T, R>(opts: MicroBatcherOptions<T, R>): MicroBatcher<T, R> {
  const maxBatch = Math.max(1, opts.maxBatch)
  const queues = new Map<string, { waiting: Waiting<T, R>[]; timer: NodeJS.Timeout | undefined }>()

  const flush = (key: string) => {
    const queue = queues.get(key)
    if (!queue) return
    clearTimeout(queue.timer)
    queues.delete(key)
    for (let start = 0; start < queue.waiting.length; start += maxBatch) {
      const batch = queue.waiting.slice(start, start + maxBatch)
      opts.run(key, batch.map((w) => w.item)).then(
        (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
        (err: unknown) => batch.forEach((w) => w.reject(err)),
      )
    }
  }

  return {
    submit: (key, item) =>
      new Promise<R>((resolve, reject) => {
        let queue = queues.get(key)
        if (!queue) {
          queue = { waiting: [], timer: undefined }
          queues.set(key, queue)
          if (maxBatch > 1) queue.timer = setTimeout(() => flush(key), opts.maxDelayMs)
        }
        queue.waiting.push({ item, resolve, reject })
        if (queue.waiting.length >= maxBatch) flush(key)
      }),
  }
}
