/**
 * `docker compose config` needs the compose plugin, which this CI lacks; this checks the same things a person
 * would: the services, their images' build targets, the shared store (a MinIO bucket made by a one-shot), each
 * process's own cache volume, health checks, AOF, the GPU reservation, and that every environment block is a
 * configuration loadConfig accepts.
 */
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config.js'

interface Service {
  image?: string
  restart?: string
  build?: { context: string; target: string }
  command?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  ports?: string[]
  profiles?: string[]
  depends_on?: Record<string, { condition: string }>
  entrypoint?: string[]
  healthcheck?: { test: string[]; interval: string; timeout: string; retries: number }
  deploy?: { resources: { reservations: { devices: { driver: string; count: number; capabilities: string[] }[] } } }
}

let compose: { services: Record<string, Service>; volumes: Record<string, unknown> }
let dockerfile: string

beforeAll(async () => {
  compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true })
  dockerfile = await readFile(new URL('../../Dockerfile', import.meta.url), 'utf8')
})

/** The names of `FROM … AS <name>` stages, with their base image. */
function stages(): Map<string, string> {
  return new Map([...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)$/gm)].map((m) => [m[2]!, m[1]!]))
}

/** The credential chain's names, which the AWS SDK reads itself (loadConfig does not). */
const AWS_CREDENTIALS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']
const APP_SERVICES = ['api', 'worker-gpu', 'worker-cpu']

test('redis, minio (and its bucket one-shot), the api and a GPU worker run by default; the CPU worker is a profile', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['api', 'minio', 'minio-init', 'redis', 'worker-cpu', 'worker-gpu'])
  expect(compose.services['worker-cpu']!.profiles).toEqual(['cpu'])
  for (const name of ['redis', 'minio', 'minio-init', 'api', 'worker-gpu']) expect(compose.services[name]!.profiles).toBeUndefined()
  expect(compose.services.api!.ports).toEqual(['3000:3000'])
})

test('redis persists with an append-only file on its own volume', () => {
  const redis = compose.services.redis!
  expect(redis.command?.join(' ')).toMatch(/--appendonly yes/)
  expect(redis.volumes).toEqual(['redis-data:/data'])
})

test('minio persists on its own volume, is health-checked, and a one-shot creates the bucket the store names', () => {
  const minio = compose.services.minio!
  expect(minio.command?.slice(0, 2)).toEqual(['server', '/data'])
  expect(minio.volumes).toEqual(['minio-data:/data'])
  expect(minio.healthcheck?.test).toEqual(['CMD', 'mc', 'ready', 'local'])
  const init = compose.services['minio-init']!
  expect(init.restart).toBe('no')
  expect(init.depends_on).toEqual({ minio: { condition: 'service_healthy' } })
  expect(init.command?.join(' ')).toMatch(/mc mb --ignore-existing store\/imagetune\b/)
})

test('api and workers build Dockerfile targets, share only redis and the bucket, each with its own cache volume', () => {
  const targets = stages()
  const caches = new Set<string>()
  for (const name of APP_SERVICES) {
    const service = compose.services[name]!
    expect(targets.has(service.build!.target)).toBe(true)
    expect(service.environment?.DATA_DIR).toBe('/data')
    expect(service.volumes).toHaveLength(1)
    caches.add(service.volumes![0]!.split(':')[0]!)
    expect(service.depends_on).toEqual({
      redis: { condition: 'service_healthy' },
      minio: { condition: 'service_healthy' },
      'minio-init': { condition: 'service_completed_successfully' },
    })
    expect(service.environment?.REDIS_URL).toBe('redis://redis:6379')
    const config = loadConfig(service.environment!)
    expect(config.STORAGE_URL).toMatch(/^s3:\/\/imagetune\/[^?]*\?endpoint=http%3A%2F%2Fminio%3A9000&forcePathStyle=true/)
    for (const key of AWS_CREDENTIALS) expect(service.environment?.[key]).toBeTruthy()
  }
  expect(caches.size).toBe(APP_SERVICES.length) // no disk shared between processes
  expect(compose.services.api!.environment?.EMBEDDED_WORKER).toBe('false')
  // Every named volume a service mounts is declared.
  const mounted = Object.values(compose.services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0]!))
  for (const volume of mounted) expect(Object.keys(compose.volumes)).toContain(volume)
})

test('every long-running service has a health check, and the workers check their metrics port', () => {
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.restart === 'no') continue // a one-shot is awaited with service_completed_successfully
    expect({ name, test: service.healthcheck?.test?.[0] }).toEqual({ name, test: 'CMD' })
    expect(service.healthcheck!.retries).toBeGreaterThan(0)
  }
  for (const name of ['worker-gpu', 'worker-cpu']) {
    const service = compose.services[name]!
    expect(service.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${service.environment!.WORKER_METRICS_PORT}/metrics`)
  }
  expect(compose.services.api!.healthcheck!.test.join(' ')).toContain('/readyz')
})

test('the GPU worker reserves one NVIDIA GPU and uses the tensorflow backend on a CUDA 11.2 + cuDNN 8 image', () => {
  const gpu = compose.services['worker-gpu']!
  expect(gpu.deploy?.resources.reservations.devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }])
  expect(gpu.environment?.IMAGETUNE_BACKEND).toBe('tensorflow')
  expect(stages().get(gpu.build!.target)).toMatch(/^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-/)
  expect(stages().get('api')).toBe('${NODE_IMAGE}')
  // Node 20 reached end of life in April 2026; the images run a supported LTS.
  expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-[a-z]+-slim$/m)
  expect(compose.services['worker-cpu']!.deploy).toBeUndefined()
})

test('every image runs JavaScript built from a source in the repository, and nothing at run time compiles TypeScript', () => {
  const cmds = [...dockerfile.matchAll(/^CMD (\[.*\])$/gm)].map((m) => JSON.parse(m[1]!) as string[])
  expect(cmds).toHaveLength(3)
  for (const cmd of cmds) {
    expect(cmd[0]).toBe('node')
    const entry = cmd.at(-1)!
    expect(entry).toMatch(/^dist\/.+\.js$/)
    expect(existsSync(new URL(`../../${entry.replace(/^dist\//, '').replace(/\.js$/, '.ts')}`, import.meta.url))).toBe(true)
  }
  expect(dockerfile).not.toMatch(/tsx/)
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string>; scripts: Record<string, string> }
  expect(Object.keys(pkg.dependencies)).not.toContain('tsx')
  expect(pkg.scripts.start).toMatch(/^node .*dist\/src\/main\.js$/)
  expect(pkg.scripts.worker).toMatch(/^node .*dist\/workers\/train-worker\.js$/)
})

test('every environment block is a configuration the service accepts', () => {
  for (const [name, service] of Object.entries(compose.services)) {
    if (!service.environment || !service.build) continue // minio's own variables are not ours
    const config = loadConfig(service.environment) as Record<string, unknown>
    // A misspelt key would be ignored by loadConfig and silently take its default.
    for (const key of Object.keys(service.environment).filter((k) => !AWS_CREDENTIALS.includes(k))) {
      expect({ name, key, known: key in config }).toEqual({ name, key, known: true })
    }
  }
})
