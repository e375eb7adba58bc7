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

  test('is frozen', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true)
  })
})
