import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../config/load-config.ts'
import { resolveConfig, type ResolvedConfig } from '../core/resolve-config.ts'
import { clusterRefusals, workerRestartDelayMs } from './serve-cluster.ts'

const configOf = (env: Record<string, string>): ResolvedConfig => {
  const loaded = loadConfig({ env })
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'))
  return resolveConfig(loaded.config)
}

describe('clusterRefusals', () => {
  it('refuses more than one worker without Redis, and an in-memory SQLite database', () => {
    const refusals = clusterRefusals({
      config: configOf({ DATABASE_URL: 'sqlite::memory:' }),
      workers: 3,
      cwd: '/tmp',
    })
    expect(refusals).toHaveLength(2)
    expect(refusals[0]).toMatch(/^--workers 3: more than one worker needs Redis \(set REDIS_URL/)
    expect(refusals[1]).toMatch(/^--workers 3: database\.url is an in-memory SQLite database/)
  })

  it('accepts Redis with the default SQLite file, a SQLite file or PostgreSQL', () => {
    const envs: Record<string, string>[] = [
      { REDIS_URL: 'redis://127.0.0.1:6379' },
      { REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: 'sqlite:./data/other.db' },
      { REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: 'postgres://u@db/gatehouse' },
    ]
    for (const env of envs)
      expect(clusterRefusals({ config: configOf(env), workers: 2, cwd: '/tmp' })).toEqual([])
  })
})

describe('workerRestartDelayMs', () => {
  it('waits 250 ms after a first exit, doubling for each exit in a row, at most 30 s', () => {
    expect([1, 2, 3, 4, 5, 8, 20].map(workerRestartDelayMs)).toEqual([
      250, 500, 1_000, 2_000, 4_000, 30_000, 30_000,
    ])
  })
})
