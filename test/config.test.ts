import { loadConfig } from '../src/config.js'

describe('loadConfig', () => {
  test('applies the embedded defaults', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({ PORT: 3000, DATA_DIR: './data', REDIS_URL: 'redis://127.0.0.1:6379', IMAGETUNE_BACKEND: '' })
    // A crashed worker's job must run again elsewhere within a minute: lock 30 s + one 15 s stall check.
    expect(config.TRAIN_LOCK_MS).toBe(30_000)
    expect(config.TRAIN_HEARTBEAT_TIMEOUT_MS).toBe(60_000)
  })

  test('converts numeric strings and ignores unrelated variables', () => {
    const config = loadConfig({ PORT: '4100', TRAIN_LOCK_MS: '120000', HOME: '/root' })
    expect(config.PORT).toBe(4100)
    expect(config.TRAIN_LOCK_MS).toBe(120_000)
    expect(config).not.toHaveProperty('HOME')
  })

  test('rejects values out of range with the variable named', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/PORT/)
    expect(() => loadConfig({ TRAIN_LOCK_MS: '1000' })).toThrow(/TRAIN_LOCK_MS/)
    expect(() => loadConfig({ IMAGETUNE_BACKEND: 'cuda' })).toThrow(/IMAGETUNE_BACKEND/)
  })

  test('STORAGE_URL: empty (DATA_DIR is the store) by default, an s3:// URL when set, anything else refused', () => {
    expect(loadConfig({}).STORAGE_URL).toBe('')
    const url = 's3://imagetune/prod?endpoint=http%3A%2F%2Fminio%3A9000&forcePathStyle=true&region=us-east-1'
    expect(loadConfig({ STORAGE_URL: url }).STORAGE_URL).toBe(url)
    expect(loadConfig({ STORAGE_URL: 's3://imagetune' }).STORAGE_URL).toBe('s3://imagetune')
    expect(() => loadConfig({ STORAGE_URL: '/mnt/shared' })).toThrow(/STORAGE_URL/)
    expect(() => loadConfig({ STORAGE_URL: 'https://bucket.s3.amazonaws.com' })).toThrow(/STORAGE_URL/)
  })

  test('is frozen', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true)
  })
})
