/**
 * A key prefix no other test run uses, for one Redis-backed store under test, and the cleanup that deletes the keys
 * under it and nothing else: suites share one Redis (locally and in CI, with other suites running at the same time),
 * so neither `FLUSHDB` nor a fixed prefix is safe.
 */
import { randomBytes } from 'node:crypto'
import { storeServiceUrl } from './check-store-service.ts'
import { connectRawRedis } from './connect-raw-redis.ts'

export type RedisTestPrefix = {
  /** `gatehouse-test:<label>:<random>:`; every key the store writes must start with it. */
  prefix: string
  /** Deletes every key under the prefix (and only those); resolves with how many it deleted. */
  cleanup(): Promise<number>
}

/** `*`, `?`, `[`, `]` and `\` are glob syntax in `SCAN MATCH`: escaped, the prefix matches only itself. */
const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, '\\$&')

export const createRedisTestPrefix = (
  options: { label?: string; url?: string } = {}
): RedisTestPrefix => {
  const label = (options.label ?? 'store').replace(/[^\w-]/g, '_')
  const prefix = `gatehouse-test:${label}:${randomBytes(6).toString('hex')}:`
  const url = options.url ?? storeServiceUrl('redis')
  return {
    prefix,
    cleanup: async () => {
      const redis = await connectRawRedis({ url })
      let deleted = 0
      try {
        let cursor = '0'
        do {
          const [next, keys] = (await redis.command(
            'SCAN',
            cursor,
            'MATCH',
            `${escapeGlob(prefix)}*`,
            'COUNT',
            500
          )) as [string, string[]]
          if (keys.length > 0) deleted += (await redis.command('UNLINK', ...keys)) as number
          cursor = next
        } while (cursor !== '0')
      } finally {
        await redis.close()
      }
      return deleted
    },
  }
}
