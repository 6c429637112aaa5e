/**
 * The revocation feed contract: a notice published by one process reaches the listeners of another within a second.
 * Memory has one process (the publisher's feed is the subscriber's); Redis has two feeds on two connections sharing a
 * prefix. The Redis-only cases after it kill the subscriber's connection on the server and expect a `reset`, then
 * notices again; and show that feeds on another prefix hear nothing.
 */
import { describe, expect, it } from 'vitest'
import type { Redis } from 'ioredis'
import { createMemoryRevocationFeed } from '../../src/stores/memory/memory-revocation-feed.ts'
import { createRedisRevocationFeed } from '../../src/stores/redis/redis-revocation-feed.ts'
import type { RevocationEvent, RevocationFeed } from '../../src/stores/revocation-feed.ts'
import { defineStoreContract, requireStoreService } from './define-store-contract.ts'
import { openTestRedis, type TestRedis } from './open-test-redis.ts'

type Fixture = { publisher: RevocationFeed; subscriber: RevocationFeed }

/** Resolves with the events once `count` have arrived, or rejects after `withinMs`. */
const collect = (
  feed: RevocationFeed,
  count: number,
  withinMs = 1_000
): { events: RevocationEvent[]; arrived: Promise<RevocationEvent[]> } => {
  const events: RevocationEvent[] = []
  const arrived = new Promise<RevocationEvent[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${events.length} of ${count} events within ${withinMs} ms`)),
      withinMs
    )
    const unsubscribe = feed.subscribe((event) => {
      events.push(event)
      if (events.length < count) return
      clearTimeout(timer)
      unsubscribe()
      resolve(events)
    })
  })
  return { events, arrived }
}

/** A feed on `test`'s prefix with a subscriber connection of its own, named so the server can find it. */
const redisFeed = async (
  test: TestRedis,
  name: string,
  prefix = test.prefix
): Promise<{ feed: RevocationFeed; subscriber: Redis }> => {
  const { redis, guard } = await test.connect()
  const subscriber = redis.duplicate({
    connectionName: `${test.prefix}${name}`,
    autoResubscribe: false,
  })
  subscriber.on('error', () => {})
  const feed = createRedisRevocationFeed({ redis, guard, logger: test.logger, prefix, subscriber })
  return { feed, subscriber }
}

defineStoreContract<Fixture>({
  name: 'revocation feed',
  implementations: [
    {
      name: 'memory',
      create: async () => {
        const feed = createMemoryRevocationFeed()
        return { store: { publisher: feed, subscriber: feed }, cleanup: () => feed.close() }
      },
    },
    {
      name: 'redis',
      requires: 'redis',
      create: async () => {
        const test = await openTestRedis('revocations')
        const publisher = await redisFeed(test, 'publisher')
        const subscriber = await redisFeed(test, 'subscriber')
        await Promise.all([publisher.feed.ready(), subscriber.feed.ready()])
        return {
          store: { publisher: publisher.feed, subscriber: subscriber.feed },
          cleanup: async () => {
            await publisher.feed.close()
            await subscriber.feed.close()
            await test.cleanup()
          },
        }
      },
    },
  ],
  cases: (get) => {
    it('brings a notice to the other process within a second', async () => {
      const { publisher, subscriber } = get()
      expect(subscriber.live()).toBe(true)
      const { arrived } = collect(subscriber, 1)
      const started = performance.now()
      await publisher.publish({ kind: 'key', id: 'key-1' })
      expect(await arrived).toEqual([{ kind: 'key', id: 'key-1' }])
      expect(performance.now() - started).toBeLessThan(1_000)
    })

    it('delivers key and tenant notices in order, and the publisher hears its own at once', async () => {
      const { publisher, subscriber } = get()
      const remote = collect(subscriber, 3)
      const own: RevocationEvent[] = []
      publisher.subscribe((event) => own.push(event))
      await publisher.publish({ kind: 'tenant', id: 'acme' })
      expect(own).toEqual([{ kind: 'tenant', id: 'acme' }])
      await publisher.publish({ kind: 'key', id: 'key-2' })
      await publisher.publish({ kind: 'key', id: 'key:with/odd "chars"' })
      expect(await remote.arrived).toEqual([
        { kind: 'tenant', id: 'acme' },
        { kind: 'key', id: 'key-2' },
        { kind: 'key', id: 'key:with/odd "chars"' },
      ])
      expect(own).toHaveLength(3) // its own notices, once each (the copy back through Redis is skipped)
    })

    it('stops delivering to an unsubscribed listener, and a throwing listener stops no other', async () => {
      const { publisher, subscriber } = get()
      const gone: RevocationEvent[] = []
      const unsubscribe = subscriber.subscribe((event) => gone.push(event))
      subscriber.subscribe(() => {
        throw new Error('a listener with a bug')
      })
      unsubscribe()
      const { arrived } = collect(subscriber, 1)
      await publisher.publish({ kind: 'key', id: 'key-3' })
      expect(await arrived).toEqual([{ kind: 'key', id: 'key-3' }])
      expect(gone).toEqual([])
    })
  },
})

describe('revocation feed (redis, connections)', () => {
  requireStoreService('redis')

  it('after its connection is killed, tells listeners to reset once it receives again', async () => {
    const test = await openTestRedis('revocations-reconnect')
    const publisher = await redisFeed(test, 'publisher')
    const subscriber = await redisFeed(test, 'subscriber')
    try {
      await Promise.all([publisher.feed.ready(), subscriber.feed.ready()])
      const events = collect(subscriber.feed, 2, 5_000)
      const clients = (await test.redis.client('LIST')) as string
      const line = clients
        .split('\n')
        .find((entry) => entry.includes(` name=${test.prefix}subscriber `))
      const id = line?.match(/^id=(\d+) /)?.[1]
      expect(id).toBeDefined()
      await test.redis.client('KILL', 'ID', id as string)
      // The reset comes once the subscription is confirmed again; from then on notices arrive.
      await expect.poll(() => events.events.length, { timeout: 4_000 }).toBe(1)
      expect(events.events[0]).toEqual({ kind: 'reset' })
      expect(subscriber.feed.live()).toBe(true)
      await publisher.feed.publish({ kind: 'tenant', id: 'acme' })
      expect(await events.arrived).toEqual([{ kind: 'reset' }, { kind: 'tenant', id: 'acme' }])
      expect(test.logger.lines.map((line) => [line.level, line.message])).toEqual([
        [
          'warn',
          'Revocation feed lost its Redis connection: notices are missed until it reconnects',
        ],
        ['info', 'Revocation feed receiving again: every process drops its cache'],
      ])
    } finally {
      await publisher.feed.close()
      await subscriber.feed.close()
      await test.cleanup()
    }
  })

  it('hears nothing from feeds on another prefix', async () => {
    const test = await openTestRedis('revocations-prefix')
    const otherPrefix = `${test.prefix}other:`
    const publisher = await redisFeed(test, 'publisher', otherPrefix)
    const neighbour = await redisFeed(test, 'neighbour', otherPrefix)
    const subscriber = await redisFeed(test, 'subscriber')
    try {
      await Promise.all([publisher, neighbour, subscriber].map(({ feed }) => feed.ready()))
      const heard: RevocationEvent[] = []
      subscriber.feed.subscribe((event) => heard.push(event))
      const control = collect(neighbour.feed, 1)
      await publisher.feed.publish({ kind: 'key', id: 'key-1' })
      expect(await control.arrived).toEqual([{ kind: 'key', id: 'key-1' }])
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(heard).toEqual([])
    } finally {
      for (const { feed } of [publisher, neighbour, subscriber]) await feed.close()
      await test.cleanup()
    }
  })
})
