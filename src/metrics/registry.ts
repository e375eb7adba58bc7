import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'

/** Seconds; from a fast JSON answer to a long upload. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
/** Seconds; a cached small job takes a few, a 10,000-image CPU job an hour. */
const JOB_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200]
/** Images in one predict call; the route accepts up to 16 multipart parts. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16]

export type JobOutcome = 'completed' | 'failed' | 'cancelled' | 'retried'

/**
 * One process's metrics: a registry of its own (so tests can build several apps in one process) holding the
 * default process metrics and the service's series. Gauges that read state on scrape are added by whoever
 * owns that state (plugins/metrics.ts for the queue and the predictor).
 */
export function createMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  return {
    registry,
    httpDuration: new Histogram({
      name: 'imagetune_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: HTTP_BUCKETS,
      registers,
    }),
    jobDuration: new Histogram({
      name: 'imagetune_job_duration_seconds',
      help: 'Wall time of one training attempt, from start to its outcome',
      labelNames: ['outcome'] as const,
      buckets: JOB_BUCKETS,
      registers,
    }),
    jobs: new Counter({
      name: 'imagetune_jobs_total',
      help: 'Training attempts by outcome (retried: failed and will run again)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    featureCache: new Counter({
      name: 'imagetune_feature_cache_lookups_total',
      help: 'Feature-cache lookups of completed training jobs, by result (hit or miss)',
      labelNames: ['result'] as const,
      registers,
    }),
    predictDuration: new Histogram({
      name: 'imagetune_predict_duration_seconds',
      help: 'Time to classify one request (decode, forward pass, top-K), excluding the upload',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    predictBatch: new Histogram({
      name: 'imagetune_predict_batch_size',
      help: 'Images per predict request',
      buckets: BATCH_BUCKETS,
      registers,
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
