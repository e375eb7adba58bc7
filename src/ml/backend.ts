import * as tf from '@tensorflow/tfjs'
import { registerWasmGradKernels } from './wasm-grad-kernels.js'

/** A backend name `initBackend` accepts as an override; '' means "pick the fastest that loads". */
export type BackendOverride = '' | 'tensorflow' | 'wasm' | 'cpu'

export interface BackendInfo {
  /** tfjs backend name now active: 'tensorflow' (tfjs-node or tfjs-node-gpu), 'wasm' or 'cpu'. */
  name: string
  /** Why this one: each backend tried before it and why it was skipped, then details of the chosen one. */
  reason: string
}

let chosen: Promise<BackendInfo> | undefined

/**
 * Selects the tfjs backend once per process: tfjs-node-gpu, then tfjs-node (both optional native packages that
 * only install where libtensorflow can be downloaded), then wasm (XNNPACK, SIMD when available), then cpu.
 * With an override, exactly that backend is used and a failure to load it rejects.
 * Idempotent: later calls return the first result whatever their argument.
 */
export function initBackend(override: BackendOverride = ''): Promise<BackendInfo> {
  chosen ??= select(override).catch((err: unknown) => {
    chosen = undefined // a failed override must not poison the next call
    throw err
  })
  return chosen
}

async function select(override: BackendOverride): Promise<BackendInfo> {
  if (override === 'tensorflow') {
    const skipped: string[] = []
    for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
      const why = await tryNative(pkg)
      if (why === undefined) return { name: 'tensorflow', reason: [...skipped, `${pkg} (override)`].join('; ') }
      skipped.push(why)
    }
    throw new Error(`backend override 'tensorflow' cannot load: ${skipped.join('; ')}`)
  }
  if (override === 'wasm') return { name: 'wasm', reason: `${await useWasm()} (override)` }
  if (override === 'cpu') return { name: 'cpu', reason: `${await useCpu()} (override)` }

  const skipped: string[] = []
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const why = await tryNative(pkg)
    if (why === undefined) return { name: 'tensorflow', reason: [...skipped, pkg].join('; ') }
    skipped.push(why)
  }
  try {
    return { name: 'wasm', reason: [...skipped, await useWasm()].join('; ') }
  } catch (err) {
    skipped.push(`wasm failed: ${message(err)}`)
  }
  return { name: 'cpu', reason: [...skipped, await useCpu()].join('; ') }
}

/** Returns undefined when `pkg` loaded and its backend is active, else why not. */
async function tryNative(pkg: string): Promise<string | undefined> {
  try {
    await import(pkg) // registers the 'tensorflow' backend with the tfjs-core instance we share
  } catch (err) {
    return `${pkg} not installed: ${firstLine(err)}`
  }
  try {
    if (!(await tf.setBackend('tensorflow'))) return `${pkg} loaded but its backend did not initialise`
    await tf.ready()
    return undefined
  } catch (err) {
    return `${pkg} failed: ${firstLine(err)}`
  }
}

async function useWasm(): Promise<string> {
  await import('@tensorflow/tfjs-backend-wasm')
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not initialise')
  await tf.ready()
  registerWasmGradKernels()
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')
  const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')
  return `wasm (SIMD ${simd ? 'on' : 'off'}, ${threads ? 'multi-threaded' : '1 thread'})`
}

async function useCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend did not initialise')
  await tf.ready()
  return 'cpu (pure JavaScript, slow)'
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function firstLine(err: unknown): string {
  return message(err).split('\n', 1)[0] ?? ''
}
