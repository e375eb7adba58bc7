/**
 * The `imagetune` CLI as a user runs it: a separate process talking HTTP to the real service, which trains on a
 * real worker process. Upload a folder, train with --watch, predict, inspect.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { makeImageFolder } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { runCli } from '../helpers/cli.js'
import { startTestService, startWorkerProcess, type TestService, type WorkerProcess } from '../helpers/service.js'

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/

let service: TestService
let worker: WorkerProcess
let dir: string

beforeAll(async () => {
  service = await startTestService()
  worker = startWorkerProcess(service.config)
  dir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-cli-'))
})

afterAll(async () => {
  await worker?.stop()
  await service?.close()
  await rm(dir, { recursive: true, force: true })
})

/** Runs the CLI against the test service; `env` may point it elsewhere. */
const cli = (args: string[], env: Record<string, string> = {}) => runCli(service.url, args, env)

test('upload a folder, train with --watch, predict, inspect the model and the job', async () => {
  const folder = path.join(dir, 'shapes')
  for (const file of await makeImageFolder({ circle: 10, stripes: 10 }, { size: 64, patterns: { circle: 'red-circle', stripes: 'blue-stripes' } })) {
    await mkdir(path.dirname(path.join(folder, file.path)), { recursive: true })
    await writeFile(path.join(folder, file.path), file.data)
  }
  await writeFile(path.join(folder, '.DS_Store'), 'finder litter')

  const upload = await cli(['datasets', 'upload', folder])
  expect(upload.stderr).toContain('zipped 20 files')
  expect(upload.stderr).toMatch(/uploading \[#{30}\] 100%/)
  expect(upload.code).toBe(0)
  const datasetId = /^id: +(\S+)$/m.exec(upload.stdout)?.[1]
  expect(datasetId).toMatch(UUID)
  expect(upload.stdout).toMatch(/^name: +shapes$/m)
  expect(upload.stdout).toMatch(/^circle +10$/m)

  const train = await cli(['train', '--dataset', datasetId!, '--epochs', '4', '--seed', '3', '--watch'])
  expect(train.stderr).toContain('epoch 4/4')
  expect(train.code).toBe(0)
  // One plain line per epoch off a terminal, each with the epoch's loss and accuracy.
  for (let epoch = 1; epoch <= 4; epoch++) expect(train.stderr).toMatch(new RegExp(`^epoch ${epoch}/4 loss \\d\\.\\d{4} acc \\d\\.\\d{3} val_acc \\d\\.\\d{3}$`, 'm'))
  expect(train.stderr).toMatch(/^\w+ +\[[#.]{30}\] +\d+% epoch \d\/4.* ETA \S+$/m)
  expect(train.stderr).toMatch(/^completed +\[#{30}\] 100% epoch 4\/4/m)
  const jobId = /^job (\S+) (queued|active)$/m.exec(train.stdout)?.[1]
  const modelId = /^completed: model (\S+)$/m.exec(train.stdout)?.[1]
  expect(modelId).toMatch(UUID)
  expect(train.stdout).toMatch(/validation accuracy \d\.\d{3} on 4 images/)

  const red = path.join(dir, 'red.png')
  const blue = path.join(dir, 'blue.jpg')
  await writeFile(red, await makeImage('red-circle', { size: 80, seed: 4242 }))
  await writeFile(blue, await makeImage('blue-stripes', { size: 80, seed: 4343, format: 'jpeg' }))
  const predict = await cli(['predict', '--model', modelId!, '--top', '2', red, blue])
  expect(predict.stderr).toBe('')
  expect(predict.code).toBe(0)
  const lines = predict.stdout.trim().split('\n')
  expect(lines[0]).toMatch(/^image +rank +label +score$/)
  expect(lines).toHaveLength(2 + 4)
  expect(lines[2]).toMatch(new RegExp(`^${red.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +1 +circle +[01]\\.\\d{3}$`))
  expect(lines[4]).toMatch(/ +1 +stripes +[01]\.\d{3}$/)

  const model = await cli(['models', 'show', modelId!])
  expect(model.code).toBe(0)
  expect(model.stdout).toMatch(/^class +precision +recall +f1 +support$/m)
  expect(model.stdout).toContain('confusion matrix:')
  expect(model.stdout).toMatch(/^true \\ predicted +circle +stripes$/m)
  expect(model.stdout).toMatch(/^circle +\d+ +\d+$/m)

  const jobs = await cli(['jobs', 'ls'])
  expect(jobs.stdout).toMatch(new RegExp(`^${jobId} +completed +done +100 +4/4 +${datasetId}`, 'm'))
  const shown = await cli(['jobs', 'show', jobId!])
  expect(shown.stdout).toMatch(/^epoch +loss +accuracy +val_loss +val_accuracy +seconds$/m)
  expect(shown.stdout).toContain(`model:    ${modelId}`)

  // The worker's JSON log: every line about the job names it, and each epoch line carries loss and accuracy.
  const log = (await readFile(path.join(service.config.DATA_DIR, 'worker.log'), 'utf8'))
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; jobId?: string; name: string; loss?: number; accuracy?: number; epoch?: number })
  // The warm-up line comes before any job (the child loads the default base as the worker starts).
  expect(log.filter((line) => line.msg === 'sandbox warm')).toHaveLength(1)
  const processorLines = log.filter((line) => line.name === 'train-processor' && line.msg !== 'sandbox warm')
  expect(processorLines.length).toBeGreaterThan(4)
  for (const line of processorLines) expect(line.jobId).toBe(jobId)
  const epochs = log.filter((line) => line.msg === 'epoch done')
  expect(epochs.map((line) => line.epoch)).toEqual([1, 2, 3, 4])
  for (const line of epochs) expect([typeof line.loss, typeof line.accuracy]).toEqual(['number', 'number'])
  expect(log.filter((line) => line.msg === 'job completed').map((line) => line.jobId)).toEqual([jobId])
})

test('errors: bad usage is 2, an API refusal is 1 with its code, an unreachable API is 3', async () => {
  const usage = await cli(['train', '--epochs', '3'])
  expect(usage.code).toBe(2)
  expect(usage.stderr).toContain('usage: imagetune train --dataset ID')

  const missing = await cli(['models', 'show', 'no-such-model'])
  expect(missing.code).toBe(1)
  expect(missing.stderr).toBe('imagetune: MODEL_NOT_FOUND: no model no-such-model (HTTP 404)\n')

  const unreadable = await cli(['predict', '--model', 'm', path.join(dir, 'nope.png')])
  expect(unreadable.code).toBe(2)
  expect(unreadable.stderr).toContain('cannot read')

  // A stand-in API that records what the CLI sends and is down for maintenance.
  let seen: IncomingHttpHeaders | undefined
  const stub = createServer((request, response) => {
    seen = request.headers
    response.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'QUEUE_UNAVAILABLE', message: 'redis is down' } }))
  })
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve))
  const stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`
  try {
    const down = await cli(['jobs', 'ls'], { IMAGETUNE_URL: stubUrl, IMAGETUNE_API_KEY: 's3cret' })
    expect(down.code).toBe(1)
    expect(down.stderr).toBe('imagetune: QUEUE_UNAVAILABLE: redis is down (HTTP 503)\n')
    expect(seen?.authorization).toBe('Bearer s3cret')
  } finally {
    await new Promise((resolve) => stub.close(resolve))
  }
  const gone = await cli(['jobs', 'ls'], { IMAGETUNE_URL: stubUrl })
  expect(gone.code).toBe(3)
  expect(gone.stderr).toContain(`cannot reach the imagetune API at ${stubUrl}`)
})
