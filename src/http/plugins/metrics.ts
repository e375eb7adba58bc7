import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import { Type } from 'typebox'
import { createMetrics, type Metrics } from '../../metrics/registry.js'
import { OPEN_ROUTE } from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** BullMQ's job states, each reported even when empty so a dashboard sees zeros rather than gaps. */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed', 'paused'] as const

/**
 * `GET /metrics` in the Prometheus text format: request durations from an onResponse hook, predictions observed by
 * the predict route, and on each scrape the queue's job counts and the predictor's models and tfjs memory. Job
 * outcomes are counted where jobs run (services/job-end.ts, given the registry by the worker): with the embedded
 * worker of `npm start` that is this registry; a standalone worker serves its own on WORKER_METRICS_PORT.
 */
export default fp(
  async (app: FastifyInstance, opts: { metrics?: Metrics | undefined }) => {
    const metrics = opts.metrics ?? createMetrics()
    const registers = [metrics.registry]
    app.decorate('metrics', metrics)

    new Gauge({
      name: 'imagetune_queue_jobs',
      help: 'Training jobs per queue state, read from BullMQ on scrape',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        // Redis down must not fail the scrape: the other series still help to diagnose it.
        const counts = await app.trainingQueue.counts().catch(() => undefined)
        this.reset()
        if (counts) for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0)
      },
    })
    // The prediction backends live in worker threads: each gauge asks them on scrape (a message round trip).
    const stats = () => app.predictor.stats()
    new Gauge({ name: 'imagetune_models_loaded', help: 'Classifiers held in memory by the prediction backends (per thread)', registers, async collect() { this.set((await stats()).loadedModels) } })
    new Gauge({ name: 'imagetune_tfjs_tensors', help: 'Live tfjs tensors of the prediction backends (tf.memory().numTensors, summed over threads)', registers, async collect() { this.set((await stats()).tensors) } })
    new Gauge({ name: 'imagetune_tfjs_bytes', help: 'Bytes held by live tfjs tensors of the prediction backends (summed over threads)', registers, async collect() { this.set((await stats()).bytes) } })

    app.addHook('onResponse', async (request, reply) => {
      // The route pattern, not the URL: ids would make one series per resource. Unmatched URLs share one label.
      const route = request.routeOptions.url ?? 'unmatched'
      metrics.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
    })

    app.get(
      '/metrics',
      {
        config: OPEN_ROUTE,
        schema: {
          tags: ['ops'],
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          description:
            'Text exposition format: HTTP durations by route and status, queue depth by state, job outcomes and durations, feature-cache hits and misses, predict latency and batch size, loaded models, tfjs tensors and bytes, process memory and event-loop lag.',
          response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: Type.String() } } } },
        },
      },
      async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    )
  },
  { name: 'metrics', dependencies: ['services'] },
)
