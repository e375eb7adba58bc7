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
  /** One CPU epoch of feature extraction can outlast BullMQ's 30 s default lock, ms. */
  TRAIN_LOCK_MS: Type.Integer({ minimum: 60_000, default: 600_000 }),
  /** `npm start` runs a training worker beside the API; a scaled-out API (compose) sets this false. */
  EMBEDDED_WORKER: Type.Boolean({ default: true }),
  /** Training jobs one worker process runs at once; a GPU worker runs one. */
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
  /**
   * Worker threads for feature extraction on the wasm backend, each with its own wasm heap (~0.4 GB for
   * MobileNetV2); 0 means one per core, 1 extracts in the job's own thread.
   */
  EXTRACT_THREADS: Type.Integer({ minimum: 0, maximum: 64, default: 0 }),
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
