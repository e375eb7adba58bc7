import { endianness } from 'node:os'
import type { HeadCheckpoint } from './train.js'

/** A little-endian uint32 header length, the JSON header, then float32 arrays. */
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

/** A head checkpoint as the bytes the checkpoint store keeps (`jobs/<jobId>/checkpoint/head.bin`). */
export function encodeCheckpoint(modelId: string, state: HeadCheckpoint): Buffer {
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
  return Buffer.concat([length, json, ...floats])
}

/** The checkpoint in `bytes` when they are a readable one for `modelId` (else undefined: training starts over). */
export function decodeCheckpoint(bytes: Uint8Array | undefined, modelId: string): HeadCheckpoint | undefined {
  if (!bytes || bytes.length < 4) return undefined
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLength = view.readUInt32LE(0)
  let header: Header
  try {
    header = JSON.parse(view.subarray(4, 4 + headerLength).toString('utf8')) as Header
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
}
