import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { saveModel } from './model-files.js'

/**
 * A small conv net shaped like the real bases (convs → global pool `pool` → its own dense head `orig_head`),
 * seeded, saved as a tfjs LayersModel in `target`: a base that loads in milliseconds.
 * @returns the path of its model.json
 */
export async function writeTinyBase(target: string, opts: { size: number; headUnits: number }): Promise<string> {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed })
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [opts.size, opts.size, 3], filters: 8, kernelSize: 3, strides: 2, activation: 'relu', name: 'conv1', kernelInitializer: init(1) }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, activation: 'relu', name: 'conv2', kernelInitializer: init(2) }),
      tf.layers.globalAveragePooling2d({ name: 'pool' }),
      tf.layers.dense({ units: opts.headUnits, activation: 'softmax', name: 'orig_head', kernelInitializer: init(3) }),
    ],
  })
  await saveModel(model, target)
  model.dispose()
  return path.join(target, 'model.json')
}

/** A tiny base written to `dir` and served over HTTP on loopback, as any tfjs LayersModel could be. */
export interface ServedTinyBase {
  /** `http://127.0.0.1:<port>/model.json`. */
  url: string
  /** Requests served so far. */
  requests(): number
  close(): Promise<void>
}

export async function serveTinyBase(dir: string, opts: { size: number; headUnits: number }): Promise<ServedTinyBase> {
  await writeTinyBase(dir, opts)
  let requests = 0
  const server = createServer((req, res) => {
    requests++
    readFile(path.join(dir, path.basename(req.url ?? '')))
      .then((data) => res.writeHead(200).end(data))
      .catch(() => res.writeHead(404).end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`,
    requests: () => requests,
    close: () => {
      // A worker's kept-alive download connection would otherwise hold close() open.
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
