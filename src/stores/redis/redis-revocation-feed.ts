/**
 * The revocation feed across processes: Redis pub/sub on `<prefix>revocations`. Publishing goes through the shared
 * connection (bounded by the guard); receiving needs a connection of its own, since a subscribed connection can run
 * no other command. The feed owns that subscriber connection and closes it.
 *
 * Reconnects: ioredis's own resubscription is off. On every `ready` the feed subscribes itself, and only once Redis
 * has confirmed the subscription does it send `reset` (after a reconnect) and count as `live`: from that moment every
 * notice arrives, and whatever was published while it was away is covered by the reset.
 *
 * A process hears its own notices at once, from `publish`, not through Redis (they would arrive late, or never while
 * its subscriber is down); the copy that comes back through Redis carries its origin and is skipped.
 */
import type { Redis } from 'ioredis'
import type { Logger } from '../../core/logger.ts'
import {
  notifyRevocationListeners,
  type RevocationFeed,
  type RevocationListener,
  type RevocationNotice,
} from '../revocation-feed.ts'
import type { RedisGuard } from './redis-guard.ts'

/** The wire form: `{"kind":"key","id":"...","origin":"<feed id>"}`. */
const encodeNotice = (notice: RevocationNotice, origin: string): string =>
  JSON.stringify({ kind: notice.kind, id: notice.id, origin })

/** `null` for anything that is not a notice (another publisher on the channel, a newer format). */
const decodeNotice = (message: string): (RevocationNotice & { origin: unknown }) | null => {
  try {
    const value = JSON.parse(message) as { kind?: unknown; id?: unknown; origin?: unknown }
    if ((value.kind === 'key' || value.kind === 'tenant') && typeof value.id === 'string')
      return { kind: value.kind, id: value.id, origin: value.origin }
  } catch {
    // not JSON: ignored like any other foreign message
  }
  return null
}

export type RedisRevocationFeedOptions = {
  /** The shared connection, for `PUBLISH`. */
  redis: Redis
  guard: RedisGuard
  logger: Logger
  /** Starts the channel's name; `gatehouse:` by default. Processes that share revocations share it. */
  prefix?: string
  /**
   * The connection to subscribe on, which the feed then owns (tests pass one to name it); by default a duplicate of
   * `redis`.
   */
  subscriber?: Redis
}

export const createRedisRevocationFeed = (options: RedisRevocationFeedOptions): RevocationFeed => {
  const { redis, guard, logger } = options
  const channel = `${options.prefix ?? 'gatehouse:'}revocations`
  const origin = crypto.randomUUID()
  const subscriber =
    options.subscriber ?? redis.duplicate({ autoResubscribe: false, lazyConnect: false })
  const listeners = new Set<RevocationListener>()
  let live = false
  let subscribedOnce = false
  let closed = false
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (markReady = resolve))

  const subscribe = (): void => {
    subscriber.subscribe(channel).then(
      () => {
        if (closed) return
        live = true
        if (subscribedOnce) {
          logger.info({ channel }, 'Revocation feed receiving again: every process drops its cache')
          notifyRevocationListeners([...listeners], { kind: 'reset' })
        }
        subscribedOnce = true
        markReady()
      },
      (error: unknown) => {
        // The connection dropped again before the subscription took; the next `ready` subscribes anew.
        logger.warn({ channel, error: String(error) }, 'Revocation feed could not subscribe')
      }
    )
  }

  subscriber.on('ready', subscribe)
  if (subscriber.status === 'ready') subscribe()
  subscriber.on('close', () => {
    if (!live) return
    live = false
    if (!closed)
      logger.warn(
        { channel },
        'Revocation feed lost its Redis connection: notices are missed until it reconnects'
      )
  })
  // Connection errors show as `close` and reconnects; without a listener ioredis would print each one.
  subscriber.on('error', () => {})
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel || closed) return
    const notice = decodeNotice(message)
    if (notice === null || notice.origin === origin) return
    notifyRevocationListeners([...listeners], { kind: notice.kind, id: notice.id })
  })

  return {
    publish: async (notice) => {
      if (closed) return
      notifyRevocationListeners([...listeners], { kind: notice.kind, id: notice.id })
      await guard.run(
        'revocation publish',
        () => redis.publish(channel, encodeNotice(notice, origin)),
        () => 0
      )
    },
    subscribe: (listener) => {
      const entry: RevocationListener = (event) => listener(event)
      listeners.add(entry)
      return () => void listeners.delete(entry)
    },
    live: () => live,
    ready: () => ready,
    close: async () => {
      if (closed) return
      closed = true
      live = false
      listeners.clear()
      markReady()
      if (subscriber.status === 'ready')
        await subscriber.quit().catch(() => subscriber.disconnect())
      else subscriber.disconnect()
    },
  }
}
