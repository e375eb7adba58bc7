/**
 * Metrics after real work: two training jobs (the second on cached features) run by a standalone worker process,
 * then a two-image prediction. The API's GET /metrics has the HTTP, queue, predictor and process series; the
 * worker's own GET /metrics (WORKER_METRICS_PORT) has the job outcomes and the sandboxed child's cache lookups.
 */
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { startTestService, startWorkerProcess, waitFor, type TestService, type WorkerProcess } from '../helpers/service.js'
import { freePort } from '../helpers/net.js'
import { Value } from 'typebox/value'
import { ModelSchema } from '../../src/contract/models.js'
import { DEFAULT_PROJECT_ID } from '../../src/contract/projects.js'

const IMAGES_PER_CLASS = 8

let service: TestService
let worker: WorkerProcess
let workerMetricsUrl: string

/** A port nobody listens on right now. */
beforeAll(async () => {
  const port = await freePort()
  service = await startTestService({ WORKER_METRICS_PORT: String(port) })
  worker = startWorkerProcess(service.config)
  workerMetricsUrl = `http://127.0.0.1:${port}/metrics`
})

afterAll(async () => {
  await worker?.stop()
  await service?.close()
})

/** The value of one sample line, e.g. `imagetune_jobs_total{outcome="completed"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function train(datasetId: string): Promise<string> {
  const created = await fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId, epochs: 3, seed: 1 }) })
  const { id } = (await created.json()) as { id: string }
  const job = await waitFor(
    async () => {
      const doc = (await (await fetch(`${service.url}/jobs/${id}`)).json()) as { status: string; result?: { modelId: string } }
      return ['completed', 'failed'].includes(doc.status) ? doc : undefined
    },
    120_000,
    'the training job',
  )
  expect(job.status).toBe('completed')
  return job.result!.modelId
}

test('a scrape after two jobs and a prediction holds every series', async () => {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ circle: IMAGES_PER_CLASS, stripes: IMAGES_PER_CLASS }, { size: 64 })))]), 'shapes.zip')
  const upload = await fetch(`${service.url}/datasets`, { method: 'POST', body: form })
  const { id: datasetId } = (await upload.json()) as { id: string }
  expect(upload.status).toBe(201)

  await train(datasetId)
  const modelId = await train(datasetId) // every feature is cached now
  // GET /models/:id is serialised through the contract's ModelSchema: a real model's stored metadata fits it and
  // comes back whole, nothing dropped or coerced.
  const stored = await service.app.servicesFor(DEFAULT_PROJECT_ID).models.get(modelId)
  expect([...Value.Errors(ModelSchema, stored)]).toEqual([])
  expect(await (await fetch(`${service.url}/models/${modelId}`)).json()).toEqual(JSON.parse(JSON.stringify(stored)))

  const predictForm = new FormData()
  for (const seed of [1, 2]) predictForm.append('image', new Blob([new Uint8Array(await makeImage('red-circle', { size: 64, seed }))], { type: 'image/png' }), `${seed}.png`)
  const predicted = await fetch(`${service.url}/predict?model=${modelId}`, { method: 'POST', body: predictForm })
  expect(predicted.status).toBe(200)
  await predicted.body?.cancel()
  const missing = await fetch(`${service.url}/jobs/no-such-job`)
  expect(missing.status).toBe(404)
  await missing.body?.cancel()

  const scrape = await fetch(`${service.url}/metrics`)
  expect(scrape.status).toBe(200)
  expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  const text = await scrape.text()

  // HTTP by route pattern and status, never by concrete URL.
  expect(sample(text, 'imagetune_http_request_duration_seconds_count{method="POST",route="/datasets",status_code="201"}')).toBe(1)
  expect(sample(text, 'imagetune_http_request_duration_seconds_count{method="GET",route="/jobs/:id",status_code="404"}')).toBe(1)
  expect(text).not.toContain('no-such-job')
  // Queue depth by state, read from BullMQ on scrape.
  expect(sample(text, 'imagetune_queue_jobs{state="completed"}')).toBe(2)
  expect(sample(text, 'imagetune_queue_jobs{state="waiting"}')).toBe(0)
  // Jobs: outcome and duration, from the worker process that ran them.
  const workerScrape = await fetch(workerMetricsUrl)
  expect(workerScrape.status).toBe(200)
  const workerText = await workerScrape.text()
  expect(sample(text, 'imagetune_jobs_total{outcome="completed"}')).toBeUndefined()
  expect(sample(workerText, 'imagetune_jobs_total{outcome="completed"}')).toBe(2)
  expect(sample(workerText, 'imagetune_job_duration_seconds_count{outcome="completed"}')).toBe(2)
  expect(sample(workerText, 'imagetune_job_duration_seconds_sum{outcome="completed"}')).toBeGreaterThan(0)
  // The first job missed every image, the second hit every one (counted in the sandboxed child).
  expect(sample(workerText, 'imagetune_feature_cache_lookups_total{result="miss"}')).toBe(2 * IMAGES_PER_CLASS)
  expect(sample(workerText, 'imagetune_feature_cache_lookups_total{result="hit"}')).toBe(2 * IMAGES_PER_CLASS)
  // Predictions: one request of two images.
  expect(sample(text, 'imagetune_predict_duration_seconds_count')).toBe(1)
  expect(sample(text, 'imagetune_predict_batch_size_sum')).toBe(2)
  expect(sample(text, 'imagetune_predict_batch_size_bucket{le="1"}')).toBe(0)
  // The predictor and tfjs memory of this process.
  // Per thread: the request's two images run at once on the free prediction threads, each loading the model.
  expect(sample(text, 'imagetune_models_loaded')).toBeGreaterThanOrEqual(1)
  expect(sample(text, 'imagetune_models_loaded')).toBeLessThanOrEqual(service.config.PREDICT_THREADS)
  expect(sample(text, 'imagetune_tfjs_tensors')).toBeGreaterThan(0)
  expect(sample(text, 'imagetune_tfjs_bytes')).toBeGreaterThan(0)
  // Process memory from the default metrics.
  expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
  expect(sample(workerText, 'process_resident_memory_bytes')).toBeGreaterThan(0)
})
