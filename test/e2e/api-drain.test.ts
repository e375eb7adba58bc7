/**
 * SIGTERM on the API process (`npm start`, without the embedded worker): predictions already in flight finish with
 * their answer, Server-Sent Events streams end cleanly (the server closes them, no reset), new connections are
 * refused, and the process exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { obliterate, waitFor } from '../helpers/service.js'
import { loadConfig } from '../../src/config.js'
import { bandsImage, saveTinyModel } from '../helpers/tiny-model.js'
import { freePort } from '../helpers/net.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const MODEL = 'drain-model'
/** Predictions started just before SIGTERM. */
const CONCURRENT = 12

let dataDir: string
let prefix: string
let main: ChildProcess | undefined

afterAll(async () => {
  if (main && main.exitCode === null && main.signalCode === null) main.kill('SIGKILL')
  if (prefix) await obliterate(loadConfig({ REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: prefix }))
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
})

test('SIGTERM: in-flight predictions finish, event streams end cleanly, the process exits 0', async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-drain-'))
  prefix = `test-${randomUUID().slice(0, 8)}`
  await saveTinyModel(dataDir, MODEL, ['a', 'b'])
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  main = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO,
    env: { ...process.env, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: prefix, DATA_DIR: dataDir, PORT: String(port), EMBEDDED_WORKER: 'false', IMAGETUNE_BACKEND: 'wasm', PREDICT_THREADS: '1', LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  })
  const exited = new Promise<number | null>((resolve) => main!.once('exit', (code) => resolve(code)))
  await waitFor(async () => ((await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined), 60_000, 'the API')
  const image = await bandsImage(3)
  const predict = () => fetch(`${url}/predict?model=${MODEL}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(image) })
  expect((await predict()).status).toBe(200) // loads the model

  // A queued job (no worker runs) and a live event stream on it.
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ red: 3, blue: 3 }, { size: 32 })))]), 'set.zip')
  const { id: datasetId } = (await (await fetch(`${url}/datasets`, { method: 'POST', body: form })).json()) as { id: string }
  const { id: jobId } = (await (await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId, epochs: 1 }) })).json()) as { id: string }
  const events = await fetch(`${url}/jobs/${jobId}/events`)
  expect(events.status).toBe(200)
  const streamRead = (async () => {
    let text = ''
    for await (const chunk of events.body as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString()
    return text // resolves only if the server ended the stream; a reset rejects
  })()

  // One prediction whose body is still arriving when SIGTERM comes, and a burst sent just before it.
  const slow = new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = httpRequest(`${url}/predict?model=${MODEL}`, { method: 'POST', headers: { 'content-type': 'image/png', 'content-length': image.length } }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }))
    })
    req.on('error', reject)
    req.write(image.subarray(0, 100))
    setTimeout(() => req.end(image.subarray(100)), 1_000)
  })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const burst = Array.from({ length: CONCURRENT }, () => predict().then(async (r) => ({ status: r.status, body: (await r.json()) as any })))
  await new Promise((resolve) => setTimeout(resolve, 20))
  main.kill('SIGTERM')

  const answers = await Promise.all([slow, ...burst])
  expect(answers.map((a) => a.status)).toEqual(Array(CONCURRENT + 1).fill(200))
  for (const a of answers) expect(a.body.predictions).toHaveLength(2)
  const streamed = await streamRead
  expect(streamed).toContain('event: progress')
  expect(await exited).toBe(0)
  await expect(fetch(`${url}/healthz`)).rejects.toThrow()
}, 120_000)
