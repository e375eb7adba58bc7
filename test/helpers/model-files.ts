import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type * as tf from '@tensorflow/tfjs'
import { modelToFiles } from '../../src/ml/file-io.js'

/**
 * Writes `<dir>/model.json` and `<dir>/weights.bin` (the bytes the store would keep), loadable with
 * `fileLoadHandler` or from the folder's URL: for tests that need a model on disk (ml itself writes no files).
 */
export async function saveModel(model: tf.LayersModel | tf.GraphModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  for (const [name, bytes] of Object.entries(await modelToFiles(model))) await writeFile(path.join(dir, name), bytes)
}
