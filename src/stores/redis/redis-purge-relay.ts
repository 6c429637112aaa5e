/**
 * Purges of a per-process prompt cache (`cache.backend: memory`) relayed to every process of a deployment that shares
 * a Redis (`serve --workers N`, or several hosts): the process that answers the admin call purges its own store and
 * publishes the purge on `<prefix>cache:purges`; every other process, listening on a connection of its own, purges
 * its store as it hears it. The purge's answer counts the entries of the process that answered it.
 *
 * Best effort, like the revocation feed: a process whose subscriber is down misses the purges published meanwhile,
 * and keeps those answers until their TTL ends or the LRU evicts them.
 */
import type { Redis } from 'ioredis'
import type { Logger } from '../../core/logger.ts'
import type { CachePurge, CacheStore } from '../cache-store.ts'
import type { RedisGuard } from './redis-guard.ts'

/** The wire form: `{"purge":{...},"origin":"<relay id>"}`; `null` for anything else. */
const decode = (message: string): { purge: CachePurge; origin: unknown } | null => {
  try {
    const value = JSON.parse(message) as { purge?: Record<string, unknown>; origin?: unknown }
    const purge = value.purge
    if (typeof purge !== 'object' || purge === null) return null
    if (typeof purge.key === 'string') return { purge: { key: purge.key }, origin: value.origin }
    if (typeof purge.tenant === 'string')
      return { purge: { tenant: purge.tenant }, origin: value.origin }
    if (typeof purge.model === 'string')
      return { purge: { model: purge.model }, origin: value.origin }
    if (purge.all === true) return { purge: { all: true }, origin: value.origin }
  } catch {
    // not JSON: another publisher's, ignored
  }
  return null
}

export type RedisPurgeRelayOptions = {
  /** The process's own store. */
  store: CacheStore
  /** The shared connection, for `PUBLISH`. */
  redis: Redis
  guard: RedisGuard
  logger: Logger
  /** The deployment's prefix (`redis.keyPrefix`). */
  prefix: string
  /** The connection to subscribe on, which the relay then owns; by default a duplicate of `redis`. */
  subscriber?: Redis
}

/** `store`, whose purges reach every process on the same Redis and prefix; `close` releases the subscriber. */
export const relayPurgesThroughRedis = (
  options: RedisPurgeRelayOptions
): CacheStore & { close(): Promise<void>; ready(): Promise<void> } => {
  const { store, redis, guard, logger } = options
  const channel = `${options.prefix}cache:purges`
  const origin = crypto.randomUUID()
  const subscriber =
    options.subscriber ?? redis.duplicate({ autoResubscribe: false, lazyConnect: false })
  let closed = false
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  const subscribe = (): void => {
    subscriber.subscribe(channel).then(
      () => markReady(),
      (error: unknown) =>
        logger.warn({ channel, error: String(error) }, 'Prompt cache purges could not subscribe')
    )
  }
  subscriber.on('ready', subscribe)
  if (subscriber.status === 'ready') subscribe()
  subscriber.on('error', () => {})
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel || closed) return
    const heard = decode(message)
    if (heard === null || heard.origin === origin) return
    store
      .delete(heard.purge)
      .catch((error: unknown) =>
        logger.warn({ error: String(error) }, 'A relayed prompt cache purge failed')
      )
  })
  return {
    get: (key) => store.get(key),
    set: (key, value, labels) => store.set(key, value, labels),
    delete: async (purge) => {
      const deleted = await store.delete(purge)
      await guard.run(
        'cache purge relay',
        () => redis.publish(channel, JSON.stringify({ purge, origin })),
        () => 0
      )
      return deleted
    },
    ready: () => ready,
    close: async () => {
      if (closed) return
      closed = true
      markReady()
      if (subscriber.status === 'ready')
        await subscriber.quit().catch(() => subscriber.disconnect())
      else subscriber.disconnect()
    },
  }
}
