/**
 * `SharedFlights` in Redis: single-flight of the prompt cache across the gateway processes of a deployment.
 *
 * - A lead is the key `<prefix>cache:f:<cache key>`, set with `NX PX` to this process's id: one `SET` round trip,
 *   taken only by a request that missed the store. It expires on its own (the leader's call is bounded by its route's
 *   total timeout; the caller adds a grace), so a process that dies leading holds no one up for longer.
 * - Its end (`release`, after the answer is stored, or when none is coming) deletes it, only if it is still this
 *   process's (a script), and publishes the cache key on `<prefix>cache:flights`.
 * - Every process listens on that channel on a connection of its own (a subscribed connection can run no other
 *   command). A waiter registers first, then checks that the lead still exists: a lead that ended between the claim
 *   and the registration would otherwise leave it waiting for its whole bound.
 *
 * Every command runs under the cache's guard: with Redis slow or down, a claim answers "lead" and a wait ends at once,
 * so the request goes upstream. While the subscriber is down, waits end at once for the same reason.
 */
import type { Redis } from 'ioredis'
import type { Logger } from '../../core/logger.ts'
import type { SharedFlights } from '../cache-store.ts'
import type { RedisGuard } from './redis-guard.ts'
import { RedisScript } from './redis-script.ts'

/** KEYS: the lead. ARGV: this process's id, the channel, the cache key. Deletes and announces a lead still ours. */
const releaseScript = new RedisScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
`)

export type RedisSharedFlightsOptions = {
  /** The shared connection, for the lead's commands. */
  redis: Redis
  /** The cache's guard. */
  guard: RedisGuard
  logger: Logger
  /** The deployment's prefix (`redis.keyPrefix`). */
  prefix: string
  /** The connection to subscribe on, which the flights then own; by default a duplicate of `redis`. */
  subscriber?: Redis
}

export type RedisSharedFlights = SharedFlights & {
  /** Whether the subscriber is listening (waits end at once while it is not). */
  live(): boolean
  /** Resolves once the first subscription has taken (tests wait for it). */
  ready(): Promise<void>
  close(): Promise<void>
}

export const createRedisSharedFlights = (
  options: RedisSharedFlightsOptions
): RedisSharedFlights => {
  const { redis, guard, logger } = options
  const root = `${options.prefix}cache:`
  const channel = `${root}flights`
  const leadKey = (key: string): string => `${root}f:${key}`
  const origin = crypto.randomUUID()
  const subscriber =
    options.subscriber ?? redis.duplicate({ autoResubscribe: false, lazyConnect: false })
  /** Waiters by cache key: each resolves with whether the lead ended (`true`) or the wait was cut short. */
  const waiters = new Map<string, Set<(ended: boolean) => void>>()
  let live = false
  let closed = false
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (markReady = resolve))

  const wakeAll = (ended: boolean): void => {
    const all = [...waiters.values()]
    waiters.clear()
    for (const set of all) for (const resolve of set) resolve(ended)
  }

  const subscribe = (): void => {
    subscriber.subscribe(channel).then(
      () => {
        if (closed) return
        live = true
        markReady()
      },
      (error: unknown) =>
        logger.warn({ channel, error: String(error) }, 'Prompt cache flights could not subscribe')
    )
  }
  subscriber.on('ready', subscribe)
  if (subscriber.status === 'ready') subscribe()
  subscriber.on('close', () => {
    live = false
    // Nobody would tell them: they go upstream now rather than at the end of their bound.
    wakeAll(false)
  })
  subscriber.on('error', () => {})
  subscriber.on('message', (from: string, key: string) => {
    if (from !== channel) return
    const set = waiters.get(key)
    if (set === undefined) return
    waiters.delete(key)
    for (const resolve of set) resolve(true)
  })

  return {
    claim: async (key, leaseMs) =>
      (await guard.run(
        'cache flight claim',
        () => redis.set(leadKey(key), origin, 'PX', Math.max(1, Math.ceil(leaseMs)), 'NX'),
        () => 'OK' as const
      )) === 'OK',
    release: async (key) => {
      await guard.run(
        'cache flight release',
        () => releaseScript.run(redis, [leadKey(key)], [origin, channel, key]),
        () => 0
      )
    },
    wait: (key, waitMs) => {
      if (!live || closed) return Promise.resolve(false)
      return new Promise<boolean>((resolve) => {
        let settled = false
        const done = (ended: boolean): void => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          const set = waiters.get(key)
          set?.delete(done)
          if (set?.size === 0) waiters.delete(key)
          resolve(ended)
        }
        let set = waiters.get(key)
        if (set === undefined) waiters.set(key, (set = new Set()))
        set.add(done)
        // `done` runs only later (a timer, a message, a reply), once `timer` is set.
        const timer = setTimeout(() => done(false), waitMs)
        timer.unref?.()
        // The lead may have ended before this waiter listened.
        void guard
          .run(
            'cache flight check',
            () => redis.exists(leadKey(key)),
            () => 0
          )
          .then(
            (exists) => {
              if (exists === 0) done(true)
            },
            () => done(false)
          )
      })
    },
    live: () => live,
    ready: () => ready,
    close: async () => {
      if (closed) return
      closed = true
      live = false
      wakeAll(false)
      markReady()
      if (subscriber.status === 'ready')
        await subscriber.quit().catch(() => subscriber.disconnect())
      else subscriber.disconnect()
    },
  }
}
