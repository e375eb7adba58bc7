import { availableParallelism } from 'node:os'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'

const MIB = 1024 * 1024
const API_KEY_ENTRY = '[0-9a-f]{64}:(train|predict|admin)(\\+(train|predict|admin))*'
/** Empty, or comma-separated `sha256hex:scope+scope` entries (spaces around commas allowed). */
const API_KEYS_PATTERN = `^(|${API_KEY_ENTRY}( *, *${API_KEY_ENTRY})*)$`

const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  REDIS_URL: Type.String({ minLength: 1, default: 'redis://127.0.0.1:6379' }),
  /**
   * This process's own folder. Without STORAGE_URL it is also the store (datasets, models, aliases, checkpoints,
   * feature cache); with it, only a local cache (extracted bases, fetched images, features, uploads) that can be
   * wiped at any time.
   */
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  /**
   * The store shared by every API replica and worker: empty for DATA_DIR, or
   * `s3://<bucket>/<prefix>?endpoint=<url>&forcePathStyle=true&region=<region>` (query optional; no endpoint means
   * AWS S3). Credentials come from the AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, roles.
   */
  STORAGE_URL: Type.String({ default: '', pattern: '^(|s3://[^/?]+(/[^?]*)?(\\?.*)?)$' }),
  /**
   * How long an API replica trusts its copy of the aliases, ms: an alias moved through another replica is served
   * here at most this long (plus one store read) later.
   */
  ALIAS_CACHE_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 500 }),
  LOG_LEVEL: Type.Union([Type.Literal('trace'), Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('silent')], { default: 'info' }),
  /** Prefix of every BullMQ key, so several deployments (or test files) can share one Redis. */
  QUEUE_PREFIX: Type.String({ minLength: 1, default: 'imagetune' }),
  /** `tensorflow`, `wasm` or `cpu`; empty picks the fastest that loads. */
  IMAGETUNE_BACKEND: Type.Union([Type.Literal(''), Type.Literal('tensorflow'), Type.Literal('wasm'), Type.Literal('cpu')], { default: '' }),
  /** Largest accepted upload (archive or image), bytes. */
  MAX_UPLOAD_BYTES: Type.Integer({ minimum: 1, default: 2048 * MIB }),
  /** Largest image body for /predict, bytes. */
  MAX_IMAGE_BYTES: Type.Integer({ minimum: 1, default: 20 * MIB }),
  /** Decoded pixels allowed per image (width × height); guards against decompression bombs. */
  MAX_IMAGE_PIXELS: Type.Integer({ minimum: 1, default: 50_000_000 }),
  /** Files allowed in one dataset archive. */
  MAX_DATASET_IMAGES: Type.Integer({ minimum: 1, default: 100_000 }),
  /** Decompressed bytes allowed for one dataset archive; stops zip and gzip bombs while they inflate. */
  MAX_DATASET_INFLATED_BYTES: Type.Integer({ minimum: 1, default: 8192 * MIB }),
  /** Class folders allowed in one dataset. */
  MAX_DATASET_CLASSES: Type.Integer({ minimum: 2, default: 1_000 }),
  /** Dataset uploads one API process ingests at once; more answer 429 (each holds a disk stream and a sharp decode). */
  MAX_CONCURRENT_UPLOADS: Type.Integer({ minimum: 1, default: 4 }),
  /**
   * Of those, how many one API key (or client IP, when open) may hold, so one client cannot hold every slot; more
   * answer 429. Keep it below MAX_CONCURRENT_UPLOADS.
   */
  MAX_CONCURRENT_UPLOADS_PER_CLIENT: Type.Integer({ minimum: 1, default: 2 }),
  /**
   * An upload that sends no byte for this long is aborted with 408 and its slot and temporary file released, ms: a
   * client that sends a multipart head and then nothing must not hold a slot. @defaultValue 15 s
   */
  UPLOAD_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 15_000 }),
  /** Unfinished (queued or running) training jobs one API key (or client IP, when open) may have; more answer 429. */
  MAX_QUEUED_JOBS_PER_KEY: Type.Integer({ minimum: 1, default: 20 }),
  /** Unfinished training jobs one project may have, unless its quota overrides it; more answer 429. */
  PROJECT_MAX_QUEUED_JOBS: Type.Integer({ minimum: 1, default: 50 }),
  /**
   * Bytes one project may hold in the store (datasets, models, bases, checkpoints, feature cache), unless its quota
   * overrides it; an upload or a job over it answers 507. 0: no limit.
   */
  PROJECT_MAX_STORED_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  /** Audit events kept per project (a Redis stream trimmed to about this length). */
  PROJECT_EVENTS_KEPT: Type.Integer({ minimum: 10, default: 10_000 }),
  /** Largest JSON body, bytes; a job request is well under 1 KiB. */
  MAX_JSON_BYTES: Type.Integer({ minimum: 1, default: 64 * 1024 }),
  /**
   * API keys, stored hashed: a comma list of `<sha256 hex of the key>:<scopes>`, scopes `train`, `predict` and
   * `admin` joined by `+` (e.g. `9f86…0a08:train+predict`). Train and predict keys act on the `default` project;
   * admin keys manage projects and their keys (which live in Redis, not here). Empty runs the API open, one `default`
   * project and no admin, which only suits localhost.
   */
  API_KEYS: Type.String({ default: '', pattern: API_KEYS_PATTERN }),
  /** Predictions (GET and POST /predict) per project per minute, across all API replicas, unless its quota overrides it. */
  RATE_LIMIT_PREDICT_PER_MIN: Type.Integer({ minimum: 1, default: 600 }),
  /** Dataset uploads per project per minute, across all API replicas, unless its quota overrides it. */
  RATE_LIMIT_UPLOADS_PER_MIN: Type.Integer({ minimum: 1, default: 30 }),
  /**
   * How long a worker's lock on a running job lasts without renewal, ms; also how long a crashed worker's job waits
   * before another worker recovers it (plus one stall check, every half lock; see `workers/worker.ts`): a SIGKILLed
   * worker's job runs again elsewhere within 1.5 locks. The worker renews it every half period from its main process,
   * which the sandbox keeps free of tfjs work, so a short lock is safe; 5 s is the floor because a busy 2-core box can
   * delay a renewal by a second or two. @defaultValue 30 s, BullMQ's own
   */
  TRAIN_LOCK_MS: Type.Integer({ minimum: 5_000, default: 30_000 }),
  /**
   * A training sandbox (the child process that runs tfjs) that sends no heartbeat for this long is killed and its job
   * retried from its checkpoint, ms: the lock alone cannot tell, since the worker's main process renews it for a child
   * that is alive but stuck. It beats 5 times per period from its event loop, which one tfjs batch blocks for seconds
   * at most. @defaultValue 60 s
   */
  TRAIN_HEARTBEAT_TIMEOUT_MS: Type.Integer({ minimum: 1_000, default: 60_000 }),
  /** How long finished jobs (completed, failed, cancelled) stay readable, seconds. @defaultValue 7 days */
  JOB_RETENTION_SECONDS: Type.Integer({ minimum: 60, default: 7 * 24 * 3600 }),
  /** Key for the `x-imagetune-signature: sha256=<hex HMAC>` header on webhook calls; empty sends them unsigned. */
  WEBHOOK_SECRET: Type.String({ default: '' }),
  /**
   * Comma-separated host names a job's webhook may call even when they resolve to loopback, private, link-local or
   * metadata addresses (e.g. an internal service). Empty: webhooks go to public addresses only.
   */
  WEBHOOK_URL_ALLOWLIST: Type.String({ default: '' }),
  /** `npm start` runs a training worker beside the API; a scaled-out API (compose) sets this false. */
  EMBEDDED_WORKER: Type.Boolean({ default: true }),
  /** Training jobs one worker process runs at once; a GPU worker runs one. */
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
  /**
   * worker_threads that run predictions, each with its own tfjs backend (wasm runs one core per thread);
   * 0 runs them on the API's main thread. Defaults to the number of cores.
   */
  PREDICT_THREADS: Type.Integer({ minimum: 0, maximum: 64, default: availableParallelism() }),
  /** Images of concurrent requests for one model run as one forward pass up to this many; 1 turns batching off. */
  PREDICT_MAX_BATCH: Type.Integer({ minimum: 1, maximum: 256, default: 16 }),
  /**
   * How long the first image of a batch waits for others before the batch runs anyway, ms. At 0 an image runs as
   * soon as a prediction thread is free, and images batch only while every thread is busy.
   */
  PREDICT_MAX_DELAY_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 0 }),
  /** Models kept loaded per prediction thread, least recently used evicted first. */
  PREDICT_MAX_LOADED: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
  /**
   * Comma-separated host names `GET /predict?url=` may fetch from even when they resolve to loopback, private,
   * link-local or metadata addresses (e.g. an internal image store). Empty: only public addresses.
   */
  PREDICT_URL_ALLOWLIST: Type.String({ default: '' }),
  /** Port of a standalone worker's `GET /metrics` (on HOST); 0 serves none. The API serves its own on PORT. */
  WORKER_METRICS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
  /**
   * Worker threads for feature extraction on the wasm backend, each with its own wasm heap (~0.4 GB for
   * MobileNetV2); 0 means one per core, 1 extracts in the job's own thread.
   */
  EXTRACT_THREADS: Type.Integer({ minimum: 0, maximum: 64, default: 0 }),
  /**
   * A worker forks its sandboxed children when it starts, and each loads the tfjs backend, the default base and its
   * extraction threads right away, so the first job costs what a later one does; false forks them at the first job.
   */
  WORKER_PREWARM: Type.Boolean({ default: true }),
})

export type Config = Readonly<Static<typeof ConfigSchema>>

/** The only reader of `process.env`; called once per process. Tests pass a literal. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Env values are strings among unrelated vars; TypeBox 1.x Parse neither converts nor cleans.
  const value = Value.Clean(ConfigSchema, Value.Convert(ConfigSchema, Value.Default(ConfigSchema, { ...env })))
  if (!Value.Check(ConfigSchema, value)) {
    const problems = [...Value.Errors(ConfigSchema, value)].map((e) => `${e.instancePath || '/'} ${e.message}`)
    throw new Error(`invalid configuration: ${problems.join('; ')}`)
  }
  return Object.freeze(value)
}
