/**
 * Webhook delivery through a real webhook worker and real Redis: the host is resolved once, checked, and the POST
 * connects to exactly the checked address (no second lookup a DNS rebinding could answer differently).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Resolver } from '../../src/net/ssrf-guard.js'
import { createLogger } from '../../src/logger.js'
import { createTrainingQueue } from '../../src/queue/producer.js'
import { startWebhookWorker } from '../../workers/webhooks.js'
import { obliterate, testConfig, waitFor } from '../helpers/service.js'

/** A name no real DNS answers: only the test's resolver knows it. */
const HOOK_HOST = 'hooks.rebind.test'

let receiver: Server
let port: number
const calls: { headers: IncomingHttpHeaders; body: string }[] = []

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      calls.push({ headers: req.headers, body })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  port = (receiver.address() as AddressInfo).port
})
afterAll(async () => {
  // A kept-alive delivery connection would hold the server (and jest) open after close().
  receiver?.closeAllConnections()
  await new Promise((resolve) => receiver?.close(resolve))
})

test('the webhook POST goes to the address that was checked, resolved once, never to a second answer', async () => {
  const config = await testConfig({ WEBHOOK_URL_ALLOWLIST: HOOK_HOST })
  const log = createLogger('warn', 'test-webhooks')
  // A rebinding DNS: the first answer is the checked one; any later answer points elsewhere (and nothing listens there).
  const lookups: string[] = []
  const rebinding: Resolver = async (hostname) => {
    lookups.push(hostname)
    return [{ address: lookups.length === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }]
  }
  const queue = createTrainingQueue({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX, retentionSeconds: 600, log })
  const webhooks = startWebhookWorker(config, log, rebinding)
  try {
    const url = `http://${HOOK_HOST}:${port}/hook`
    await queue.enqueue('job-1', { modelId: 'job-1', datasetId: 'd', baseModel: 'mobilenet_v2', options: { epochs: 1, batchSize: 1, learningRate: 0.001, validationSplit: 0.2, seed: 1 }, requestId: 'r', webhook: { url } }, 50)
    await webhooks.notify({ trainJobId: 'job-1', url })
    await waitFor(async () => (calls.length > 0 ? true : undefined), 15_000, 'the webhook to arrive')
    expect(calls).toHaveLength(1)
    expect(calls[0]!.headers.host).toBe(`${HOOK_HOST}:${port}`)
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ id: 'job-1' })
    expect(lookups).toEqual([HOOK_HOST])
  } finally {
    await webhooks.close()
    await queue.close()
    await obliterate(config)
  }
})
