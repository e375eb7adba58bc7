import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'

const MIB = 1024 * 1024

const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  REDIS_URL: Type.String({ minLength: 1, default: 'redis://127.0.0.1:6379' }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
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
  /**
   * How long a worker's lock on a running job lasts without renewal, ms; also how long a crashed worker's job waits
   * before another worker recovers it (plus up to two stall checks, see `workers/worker.ts`). The worker renews it
   * every half period from its main process, which the sandbox keeps free of tfjs work, so a short lock is safe;
   * 5 s is the floor because a busy 2-core box can delay a renewal by a second or two.
   */
  TRAIN_LOCK_MS: Type.Integer({ minimum: 5_000, default: 600_000 }),
  /** How long finished jobs (completed, failed, cancelled) stay readable, seconds. @defaultValue 7 days */
  JOB_RETENTION_SECONDS: Type.Integer({ minimum: 60, default: 7 * 24 * 3600 }),
  /** Key for the `x-imagetune-signature: sha256=<hex HMAC>` header on webhook calls; empty sends them unsigned. */
  WEBHOOK_SECRET: Type.String({ default: '' }),
  /** `npm start` runs a training worker beside the API; a scaled-out API (compose) sets this false. */
  EMBEDDED_WORKER: Type.Boolean({ default: true }),
  /** Training jobs one worker process runs at once; a GPU worker runs one. */
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
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
