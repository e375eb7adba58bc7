export interface MicroBatcherOptions<T, R> {
  /** Items per run; a key's queue runs as soon as it holds this many. */
  maxBatch: number
  /**
   * How long the oldest queued item waits for company before its key's queue runs anyway, ms. With 0 an item runs
   * as soon as a run slot is free, and items batch only while every slot is busy.
   */
  maxDelayMs: number
  /**
   * Runs in flight at most (e.g. one per prediction thread); items wait here, batching up, while all are busy.
   * @defaultValue Infinity
   */
  capacity?: number
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

interface KeyQueue<T, R> {
  waiting: Waiting<T, R>[]
  /** The oldest item has waited `maxDelayMs`: the queue runs at the next free slot, full or not. */
  due: boolean
  timer: NodeJS.Timeout | undefined
}

/**
 * Groups items submitted concurrently under the same key (a model id) into batches, the way TF Serving's batching
 * does: a batch runs when it is full or when its first item has waited `maxDelayMs`, and only while fewer than
 * `capacity` batches run (keys served oldest first). So with no delay an idle service runs each item at once, and
 * a busy one batches whatever queued while its slots worked. A failed run fails every item of that batch only.
 */
export function createMicroBatcher<T, R>(opts: MicroBatcherOptions<T, R>): MicroBatcher<T, R> {
  const maxBatch = Math.max(1, opts.maxBatch)
  const capacity = Math.max(1, opts.capacity ?? Infinity)
  const immediate = maxBatch === 1 || opts.maxDelayMs <= 0
  // Map order is arrival order of each key's oldest item.
  const queues = new Map<string, KeyQueue<T, R>>()
  let running = 0

  const start = (key: string, queue: KeyQueue<T, R>) => {
    const batch = queue.waiting.splice(0, maxBatch)
    if (queue.waiting.length === 0) {
      clearTimeout(queue.timer)
      queues.delete(key)
    }
    running++
    opts
      .run(key, batch.map((w) => w.item))
      .then(
        (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
        (err: unknown) => batch.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        running--
        pump()
      })
  }
  const pump = () => {
    for (const [key, queue] of queues) {
      while (running < capacity && queues.get(key) === queue && (queue.due || queue.waiting.length >= maxBatch)) start(key, queue)
      if (running >= capacity) return
    }
  }

  return {
    submit: (key, item) =>
      new Promise<R>((resolve, reject) => {
        let queue = queues.get(key)
        if (!queue) {
          const created: KeyQueue<T, R> = { waiting: [], due: immediate, timer: undefined }
          if (!immediate) {
            created.timer = setTimeout(() => {
              created.due = true
              pump()
            }, opts.maxDelayMs)
          }
          queues.set(key, created)
          queue = created
        }
        queue.waiting.push({ item, resolve, reject })
        pump()
      }),
  }
}
