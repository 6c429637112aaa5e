/**
 * What a Redis-backed limit store needs in a test: a key prefix of its own (deleted afterwards, and nothing else), a
 * connection made as the gateway makes it (`connectRedis`), a guard whose log lines are kept, and more connections on
 * demand, standing for other gateway processes. `cleanup` closes every connection it opened and deletes the prefix.
 */
import type { Redis } from 'ioredis'
import { RedisGuard, type RedisFailureMode } from '../../src/stores/redis/redis-guard.ts'
import { connectRedis } from '../../src/stores/redis/connect-redis.ts'
import { createRecordingLogger, type LogLine } from '../helpers/fake-deps.ts'
import { storeServiceUrl } from './check-store-service.ts'
import { createRedisTestPrefix } from './create-redis-test-prefix.ts'
import type { Logger } from '../../src/core/logger.ts'

export type TestRedis = {
  prefix: string
  redis: Redis
  guard: RedisGuard
  logger: Logger & { lines: LogLine[] }
  /** Another connection (another gateway process), with a guard of its own; closed by `cleanup`. */
  connect(): Promise<{ redis: Redis; guard: RedisGuard }>
  cleanup(): Promise<void>
}

/**
 * `mode` defaults to fail-closed and `timeoutMs` to 2 s: a functional case must not pass by failing open, nor fail
 * because a loaded test machine answered in 60 ms. The outage suite sets both as a gateway would.
 */
export const openTestRedis = async (
  label: string,
  options: { mode?: RedisFailureMode; timeoutMs?: number } = {}
): Promise<TestRedis> => {
  const keys = createRedisTestPrefix({ label })
  const url = storeServiceUrl('redis')
  const logger = createRecordingLogger()
  const guardOf = (): RedisGuard =>
    new RedisGuard({
      mode: options.mode ?? 'closed',
      timeoutMs: options.timeoutMs ?? 2_000,
      logger,
    })
  const connections: Redis[] = []
  const open = async (): Promise<Redis> => {
    const redis = await connectRedis({ url, connectionName: `${keys.prefix}client` })
    connections.push(redis)
    if (redis.status !== 'ready') throw new Error(`Redis at ${url} did not become ready`)
    return redis
  }
  return {
    prefix: keys.prefix,
    redis: await open(),
    guard: guardOf(),
    logger,
    connect: async () => ({ redis: await open(), guard: guardOf() }),
    cleanup: async () => {
      for (const redis of connections.splice(0)) redis.disconnect()
      await keys.cleanup()
    },
  }
}

/** Every key under `prefix` with its remaining TTL in ms (-1: none). */
export const ttlsUnder = async (redis: Redis, prefix: string): Promise<Map<string, number>> => {
  const ttls = new Map<string, number>()
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(
      cursor,
      'MATCH',
      `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`
    )
    for (const key of keys) ttls.set(key, await redis.pttl(key))
    cursor = next
  } while (cursor !== '0')
  return ttls
}
