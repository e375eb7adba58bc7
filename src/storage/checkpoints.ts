import { readFile, rm } from 'node:fs/promises'
import { endianness } from 'node:os'
import type { HeadCheckpoint } from '../ml/train.js'
import type { TrainResult } from '../queue/jobs.js'
import { writeFileAtomic, writeJsonAtomic } from './atomic.js'
import { isId, safeJoin } from './layout.js'

/** `jobs/<jobId>/checkpoint/head.bin`: a little-endian uint32 header length, the JSON header, then float32 arrays. */
const HEAD_FILE = 'head.bin'
/** The result a job saved just before publishing its model, for an attempt that finds the model already there. */
const RESULT_FILE = 'result.json'
const VERSION = 1

interface Header {
  version: number
  /** The model the checkpoint trains towards: a checkpoint of another job's data is never resumed. */
  modelId: string
  endianness: string
  epoch: number
  history: HeadCheckpoint['history']
  order: number[]
  random: number
  tracker: HeadCheckpoint['tracker']
  /** Element counts of the float32 arrays that follow, in order; `best` is empty without best weights. */
  weights: number[]
  optimizer: number[]
  best: number[]
  /** Present once fine-tuning has begun (see HeadCheckpoint.fineTune). */
  fineTune?: HeadCheckpoint['fineTune']
}

/** A running job's scratch folder under DATA_DIR: its latest checkpoint (head or fine-tuning) and its result. */
export interface CheckpointStore {
  /** Replaces the job's checkpoint in one rename. */
  save(jobId: string, modelId: string, state: HeadCheckpoint): Promise<void>
  /** The job's checkpoint when there is a readable one for `modelId`. */
  load(jobId: string, modelId: string): Promise<HeadCheckpoint | undefined>
  saveResult(jobId: string, result: TrainResult): Promise<void>
  loadResult(jobId: string): Promise<TrainResult | undefined>
  /** Removes the job's folder (the job has ended: completed, cancelled or failed for good). */
  remove(jobId: string): Promise<void>
  /** The job's folder. */
  dir(jobId: string): string
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export function createCheckpointStore(jobsDir: string): CheckpointStore {
  const dir = (jobId: string) => {
    if (!isId(jobId)) throw new Error(`invalid job id for a checkpoint: ${jobId}`)
    return safeJoin(jobsDir, jobId)
  }
  const headFile = (jobId: string) => safeJoin(dir(jobId), 'checkpoint', HEAD_FILE)
  const resultFile = (jobId: string) => safeJoin(dir(jobId), RESULT_FILE)

  return {
    dir,
    async save(jobId, modelId, state) {
      const arrays = [...state.weights, ...state.optimizer, ...(state.bestWeights ?? [])]
      const header: Header = {
        version: VERSION,
        modelId,
        endianness: endianness(),
        epoch: state.epoch,
        history: state.history,
        order: state.order,
        random: state.random,
        tracker: state.tracker,
        weights: state.weights.map((w) => w.length),
        optimizer: state.optimizer.map((w) => w.length),
        best: state.bestWeights?.map((w) => w.length) ?? [],
        ...(state.fineTune && { fineTune: state.fineTune }),
      }
      // Padded to 4 bytes so the float32 arrays can be viewed in place when read back.
      let json = Buffer.from(JSON.stringify(header))
      json = Buffer.concat([json, Buffer.alloc((4 - (json.length % 4)) % 4, 0x20)])
      const length = Buffer.alloc(4)
      length.writeUInt32LE(json.length)
      const floats = arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))
      await writeFileAtomic(headFile(jobId), Buffer.concat([length, json, ...floats]))
    },
    async load(jobId, modelId) {
      const bytes = await readOrUndefined(headFile(jobId))
      if (!bytes || bytes.length < 4) return undefined
      const headerLength = bytes.readUInt32LE(0)
      let header: Header
      try {
        header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as Header
      } catch {
        return undefined // damaged: training starts over, which is slower but correct
      }
      if (header.version !== VERSION || header.modelId !== modelId || header.endianness !== endianness()) return undefined
      const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 4 + headerLength, bytes.byteOffset + bytes.length))
      const counts = [...header.weights, ...header.optimizer, ...header.best]
      if (counts.reduce((a, b) => a + b, 0) !== all.length) return undefined
      let at = 0
      const take = (sizes: number[]) => sizes.map((n) => all.slice(at, (at += n)))
      const weights = take(header.weights)
      const optimizer = take(header.optimizer)
      const best = take(header.best)
      return {
        epoch: header.epoch,
        history: header.history,
        weights,
        optimizer,
        order: header.order,
        random: header.random,
        tracker: header.tracker,
        ...(header.best.length > 0 && { bestWeights: best }),
        ...(header.fineTune && { fineTune: header.fineTune }),
      }
    },
    async saveResult(jobId, result) {
      await writeJsonAtomic(resultFile(jobId), result)
    },
    async loadResult(jobId) {
      const bytes = await readOrUndefined(resultFile(jobId))
      return bytes && (JSON.parse(bytes.toString('utf8')) as TrainResult)
    },
    async remove(jobId) {
      await rm(dir(jobId), { recursive: true, force: true })
    },
  }
}
