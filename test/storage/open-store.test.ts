/**
 * The S3 SDK is loaded only when STORAGE_URL names a bucket: every process (API, worker, each sandboxed child)
 * opens its stores at start, and on local disk the SDK's import was start-up time for nothing. Run in a fresh
 * Node process on the built module, whose module resolutions a loader hook reports.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { builtEntry } from '../helpers/service.js'

const run = promisify(execFile)

/** Hook in the loader thread: posts every `@aws-sdk/…` specifier it resolves to the main thread. */
const HOOKS = `let port
export function initialize(data) { port = data.port }
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@aws-sdk/')) port.postMessage(specifier)
  return next(specifier, context)
}`

/** Opens the stores with this STORAGE_URL in a new process; answers the SDK modules it loaded and the shared store's kind. */
async function openIn(storageUrl: string, dataDir: string): Promise<{ sdk: string[]; s3: boolean }> {
  const script = `
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'
const { port1, port2 } = new MessageChannel()
const sdk = []
port1.on('message', (s) => sdk.push(s))
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}), { data: { port: port2 }, transferList: [port2] })
const { openStores } = await import(${JSON.stringify(pathToFileURL(builtEntry('src/storage/open-store.js')).href)})
const stores = await openStores({ STORAGE_URL: ${JSON.stringify(storageUrl)}, DATA_DIR: ${JSON.stringify(dataDir)} })
await new Promise((resolve) => setTimeout(resolve, 100)) // the hook's last messages
console.log(JSON.stringify({ sdk, s3: typeof stores.shared.verifyBucket === 'function' }))
stores.shared.close?.()
port1.close()
`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script])
  return JSON.parse(stdout) as { sdk: string[]; s3: boolean }
}

let dataDir: string
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-open-store-'))
})
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

test('local disk: the S3 SDK is never imported', async () => {
  const opened = await openIn('', dataDir)
  expect(opened).toEqual({ sdk: [], s3: false })
})

test('a bucket: the S3 store, with the SDK imported for it', async () => {
  const opened = await openIn('s3://imagetune-test/x?endpoint=http%3A%2F%2F127.0.0.1%3A9&forcePathStyle=true&region=us-east-1', dataDir)
  expect(opened.s3).toBe(true)
  expect(opened.sdk).toContain('@aws-sdk/client-s3')
})
