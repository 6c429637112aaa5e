/**
 * Where the gateway under test keeps its tenants, keys and usage, and what it shares through Redis, for one
 * benchmark run, and the cleanup that removes it all afterwards:
 *
 * - The SQL store: SQLite, the default deployment, as a file in a fresh temporary folder (every run starts from an
 *   empty store and nothing is written into the checkout), or with `database: 'postgres'` a throwaway PostgreSQL
 *   database (`GATEHOUSE_TEST_POSTGRES_URL`, default the local server), dropped afterwards.
 * - Redis, when a scenario calls the gateway with a tenant key (`GATEHOUSE_TEST_REDIS_URL`, default
 *   127.0.0.1:6379): a key prefix of the run's own, whose keys are deleted afterwards, and nothing else. The gateway
 *   fails closed (`limits.onStoreFailure: closed`): a limit or budget check Redis did not answer in time is a 503,
 *   which fails the run, where the default (open) would let the request through unchecked and measure less than
 *   the checks cost. `BENCH_BLOCK_MS` sets its `limits.blockMs` (0: every tenant request checked in Redis alone, as a
 *   key close to its limits is; default the gateway's, quota blocks for a busy key far from its limits).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkStoreService, storeServiceUrl } from '../test/contract/check-store-service.ts'
import { connectRawRedis } from '../test/contract/connect-raw-redis.ts'
import { createRedisTestPrefix } from '../test/contract/create-redis-test-prefix.ts'
import { createThrowawayPostgresDatabase } from '../test/contract/create-throwaway-postgres-database.ts'

export type BenchDatabase = 'sqlite' | 'postgres'

export type BenchStores = {
  /** The gateway's environment: `DATABASE_URL`, and with Redis `REDIS_URL`. */
  env: Record<string, string>
  /** The gateway's config for them (with Redis: its key prefix, timeout and failure policy), for its config file. */
  config: Record<string, unknown>
  database: BenchDatabase
  /** Every Redis key the gateway writes starts with it; `null` without Redis. */
  redisKeyPrefix: string | null
  /**
   * Redis's process, when it runs on this machine: its CPU time is read like the targets' (it would otherwise count
   * as "other", a machine that is not quiet). `null` without Redis or when it runs elsewhere.
   */
  redisPid: number | null
  /**
   * The stores of a cache gateway (`startCacheGateway`): a SQLite file of its own in the run's folder, whatever
   * `database` says (its usage events are written there, hits included), and with the Redis backend Redis under a
   * key prefix of the run's own (`cacheRedisKeyPrefix`), only when `cacheRedis` was asked.
   */
  cacheGatewayStores(backend: 'memory' | 'redis'): {
    env: Record<string, string>
    redisKeyPrefix?: string
    redisTimeoutMs?: number
  }
  /** Every Redis key the cache gateway with the Redis backend writes starts with it; `null` without it. */
  cacheRedisKeyPrefix: string | null
  /** Deletes the run's Redis keys, drops the PostgreSQL database, removes the folder; after the gateway stopped. */
  cleanup(): Promise<void>
}

/** `process_id` of `INFO server`, when that process is a Redis server this machine's `/proc` shows. */
const localRedisPid = async (url: string): Promise<number | null> => {
  const redis = await connectRawRedis({ url })
  let info: unknown
  try {
    info = await redis.command('INFO', 'server')
  } finally {
    await redis.close()
  }
  const pid = Number(/^process_id:(\d+)/m.exec(String(info))?.[1])
  if (!Number.isInteger(pid) || pid <= 0) return null
  try {
    // In a container Redis sees its own process ids: the same number here may be another program.
    return readFileSync(`/proc/${pid}/comm`, 'utf8').includes('redis') ? pid : null
  } catch {
    return null
  }
}

export const prepareBenchStores = async (options: {
  redis: boolean
  /** A cache gateway with the Redis backend will run (`cache-hit-redis`). */
  cacheRedis?: boolean
  database: BenchDatabase
  /** `redis.timeoutMs`; absent: the gateway's default. */
  redisTimeoutMs?: number
}): Promise<BenchStores> => {
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-bench-stores-'))
  const cleanups: (() => Promise<unknown>)[] = [
    async () => rmSync(directory, { recursive: true, force: true }),
  ]
  const cleanup = async (): Promise<void> => {
    const results = await Promise.allSettled(cleanups.splice(0).map((step) => step()))
    const failed = results.find((result) => result.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }
  try {
    let cacheRedis: { url: string; prefix: string } | null = null
    if (options.cacheRedis === true) {
      const problem = await checkStoreService('redis')
      if (problem !== null)
        throw new Error(
          `${problem}: cache-hit-redis needs Redis (GATEHOUSE_TEST_REDIS_URL for another address)`
        )
      const url = storeServiceUrl('redis')
      const keys = createRedisTestPrefix({ label: 'bench-cache', url })
      cleanups.push(() => keys.cleanup())
      cacheRedis = { url, prefix: keys.prefix }
    }
    const cacheGatewayStores: BenchStores['cacheGatewayStores'] = (backend) => {
      const env = { DATABASE_URL: `sqlite:${join(directory, `cache-${backend}`, 'gatehouse.db')}` }
      if (backend === 'memory') return { env }
      if (cacheRedis === null) throw new Error('the Redis cache gateway needs cacheRedis: true')
      return {
        env: { ...env, REDIS_URL: cacheRedis.url },
        redisKeyPrefix: cacheRedis.prefix,
        redisTimeoutMs: options.redisTimeoutMs,
      }
    }
    const cacheFields = {
      cacheGatewayStores,
      cacheRedisKeyPrefix: cacheRedis?.prefix ?? null,
    }
    const env: Record<string, string> = {}
    if (options.database === 'postgres') {
      const database = await createThrowawayPostgresDatabase()
      cleanups.push(() => database.drop())
      env.DATABASE_URL = database.url
    } else {
      env.DATABASE_URL = `sqlite:${join(directory, 'data', 'gatehouse.db')}`
    }
    if (!options.redis)
      return {
        env,
        config: {},
        database: options.database,
        redisKeyPrefix: null,
        redisPid: cacheRedis === null ? null : await localRedisPid(cacheRedis.url),
        ...cacheFields,
        cleanup,
      }

    const problem = await checkStoreService('redis')
    if (problem !== null)
      throw new Error(
        `${problem}: the tenant scenarios need Redis (GATEHOUSE_TEST_REDIS_URL for another address)`
      )
    const url = storeServiceUrl('redis')
    const keys = createRedisTestPrefix({ label: 'bench', url })
    cleanups.push(() => keys.cleanup())
    env.REDIS_URL = url
    return {
      env,
      config: {
        redis: { keyPrefix: keys.prefix, timeoutMs: options.redisTimeoutMs },
        limits: { onStoreFailure: 'closed', ...benchBlockMs() },
      },
      database: options.database,
      redisKeyPrefix: keys.prefix,
      redisPid: await localRedisPid(url),
      ...cacheFields,
      cleanup,
    }
  } catch (error) {
    await cleanup().catch(() => {})
    throw error
  }
}

/** `limits.blockMs` from `BENCH_BLOCK_MS`, when set. */
const benchBlockMs = (): { blockMs?: number } => {
  const value = process.env.BENCH_BLOCK_MS
  if (value === undefined || value === '') return {}
  const blockMs = Number(value)
  if (!Number.isSafeInteger(blockMs) || blockMs < 0)
    throw new Error(`BENCH_BLOCK_MS is an integer >= 0, got ${value}`)
  return { blockMs }
}
