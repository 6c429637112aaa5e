/**
 * `SharedFlights` in Redis: single-flight of the prompt cache across the gateway processes of a deployment.
 *
 * - A lead is the key `<prefix>cache:f:<cache key>`, set with `NX PX` to this process's id: one `SET` round trip,
 *   taken only by a request that missed the store. Its lease is short (as long as followers wait for a first message)
 *   and every message the leader relays renews it (for as long as followers bear a silence), so a process that dies
 *   leading holds the key for no longer than that: the next request leads anew.
 * - The leader relays its call through the stream `<prefix>cache:s:<cache key>`: the messages of one event-loop turn
 *   in one `XADD` (field `m`, the texts one per line: they are JSON, which has no raw newline), then the end (field
 *   `e` with the final text, or `f`: failed), which also deletes the lead if it is still this process's. The stream
 *   lives as long as the lead, and a little after its end (`endedStreamTtlMs`), for followers that came just then.
 * - Followers read every stream they follow from its start with one `XREAD BLOCK` on a connection of their own (a
 *   blocked connection can run nothing else), in a loop that runs while anyone follows. A stream with nothing within
 *   the follower's first bound, or silent for longer than its idle bound, ends its feed with `null`; so does a read
 *   that fails (Redis down): the follower goes upstream.
 *
 * The leader's commands run under the cache's guard and never wait on the request: with Redis slow or down a claim
 * answers "lead" and the relay's writes are dropped, so the request goes upstream.
 */
import type { Redis } from 'ioredis'
import type { Logger } from '../../core/logger.ts'
import type { FlightRelay, FlightSink, SharedFlights } from '../cache-store.ts'
import type { RedisGuard } from './redis-guard.ts'
import { RedisScript } from './redis-script.ts'

/** How long a stream stays after its end, for a follower that claimed just before the end and reads just after. */
const endedStreamTtlMs = 30_000

/** How long one `XREAD` blocks: a follower added meanwhile is first read within this. */
const blockMs = 50

/**
 * KEYS: the stream, the lead. ARGV: a TTL (ms), a field, its value, this process's id. Appends, and keeps the stream and
 * the lead (if still this process's) alive for the TTL from now: a lead lives while its relay does.
 */
const appendScript = new RedisScript(`
redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return 1
`)

/** KEYS: the stream, the lead. ARGV: the stream's TTL after the end, a field, its value, this process's id. */
const endScript = new RedisScript(`
redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return 1
`)

export type RedisSharedFlightsOptions = {
  /** The shared connection, for the leader's commands. */
  redis: Redis
  /** The cache's guard. */
  guard: RedisGuard
  logger: Logger
  /** The deployment's prefix (`redis.keyPrefix`). */
  prefix: string
  /** The connection followers read on, which the flights then own; by default a duplicate of `redis`. */
  reader?: Redis
}

export type RedisSharedFlights = SharedFlights & { close(): Promise<void> }

/** Resolves once `connection` is ready, or after `ms` (the read that follows then fails, and says so). */
const readyWithin = (connection: Redis, ms: number): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      connection.off('ready', done)
      resolve()
    }
    connection.once('ready', done)
  })

type Following = {
  sink: FlightSink
  lastId: string
  /** Epoch ms: the end of the wait for the first entry. */
  firstBy: number
  idleMs: number
  /** Epoch ms of the last entry read; `null` before the first. */
  lastAt: number | null
}

export const createRedisSharedFlights = (
  options: RedisSharedFlightsOptions
): RedisSharedFlights => {
  const { redis, guard, logger } = options
  const root = `${options.prefix}cache:`
  const leadKey = (key: string): string => `${root}f:${key}`
  const streamKey = (key: string): string => `${root}s:${key}`
  const origin = crypto.randomUUID()
  // Connected from the start: the first follower must not wait for a connection (nor fail for want of one).
  const reader = options.reader ?? redis.duplicate({ lazyConnect: false })
  reader.on('error', () => {})
  /** By stream key. */
  const followed = new Map<string, Following>()
  let reading = false
  let closed = false

  const endFeed = (stream: string, following: Following, text: string | null): void => {
    followed.delete(stream)
    try {
      following.sink.end(text)
    } catch (error) {
      logger.warn({ error: String(error) }, 'A prompt cache follower failed at the end of its feed')
    }
  }

  const endAll = (): void => {
    for (const [stream, following] of [...followed]) endFeed(stream, following, null)
  }

  /** One entry's fields (`[name, value, ...]`): its messages, then whether it ended the feed. */
  const take = (stream: string, following: Following, fields: string[]): void => {
    for (let index = 0; index + 1 < fields.length; index += 2) {
      const [name, value] = [fields[index], fields[index + 1]]
      if (name === 'm') {
        for (const text of value.split('\n')) following.sink.message(text)
      } else if (name === 'e') return endFeed(stream, following, value)
      else if (name === 'f') return endFeed(stream, following, null)
    }
  }

  const read = async (): Promise<void> => {
    if (reading) return
    reading = true
    try {
      if (reader.status !== 'ready') await readyWithin(reader, 1_000)
      while (followed.size > 0 && !closed) {
        const streams = [...followed.keys()]
        const ids = streams.map((stream) => followed.get(stream)!.lastId)
        let reply: [string, [string, string[]][]][] | null
        try {
          reply = (await reader.xread(
            'COUNT',
            1000,
            'BLOCK',
            blockMs,
            'STREAMS',
            ...streams,
            ...ids
          )) as [string, [string, string[]][]][] | null
        } catch {
          // Redis out of reach: every follower goes upstream rather than wait for what it cannot hear.
          endAll()
          break
        }
        const now = Date.now()
        for (const [stream, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            const following = followed.get(stream)
            if (following === undefined) break
            following.lastId = id
            following.lastAt = now
            try {
              take(stream, following, fields)
            } catch (error) {
              logger.warn({ error: String(error) }, 'A prompt cache follower failed on its feed')
              endFeed(stream, following, null)
            }
          }
        }
        for (const [stream, following] of [...followed]) {
          const late =
            following.lastAt === null
              ? now > following.firstBy
              : now - following.lastAt > following.idleMs
          if (late) endFeed(stream, following, null)
        }
      }
    } finally {
      reading = false
    }
  }

  return {
    claim: async (key, leaseMs) =>
      (await guard.run(
        'cache flight claim',
        () => redis.set(leadKey(key), origin, 'PX', Math.max(1, Math.ceil(leaseMs)), 'NX'),
        () => 'OK' as const
      )) === 'OK',

    lead: (key, renewMs): FlightRelay => {
      const stream = streamKey(key)
      const ttl = Math.max(1, Math.ceil(renewMs))
      let pending: string[] = []
      let ended = false
      const append = (field: string, value: string): void => {
        void guard.run(
          'cache flight relay',
          () => appendScript.run(redis, [stream, leadKey(key)], [ttl, field, value, origin]),
          () => 0
        )
      }
      const flush = (): void => {
        if (pending.length === 0) return
        const texts = pending
        pending = []
        append('m', texts.join('\n'))
      }
      return {
        send: (text) => {
          if (ended) return
          if (pending.length === 0) setImmediate(flush)
          pending.push(text)
        },
        end: (text) => {
          if (ended) return
          ended = true
          flush()
          void guard.run(
            'cache flight end',
            () =>
              endScript.run(
                redis,
                [stream, leadKey(key)],
                [endedStreamTtlMs, text === null ? 'f' : 'e', text ?? '', origin]
              ),
            () => 0
          )
        },
      }
    },

    follow: (key, bounds, sink) => {
      if (closed) {
        sink.end(null)
        return
      }
      const stream = streamKey(key)
      // One feed per stream in a process: its flight has one follower of the relay, whatever it feeds.
      const existing = followed.get(stream)
      if (existing !== undefined) endFeed(stream, existing, null)
      followed.set(stream, {
        sink,
        lastId: '0-0',
        firstBy: Date.now() + bounds.firstMs,
        idleMs: bounds.idleMs,
        lastAt: null,
      })
      void read()
    },

    close: async () => {
      if (closed) return
      closed = true
      endAll()
      if (reader.status === 'ready') await reader.quit().catch(() => reader.disconnect())
      else reader.disconnect()
    },
  }
}
