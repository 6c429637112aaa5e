/**
 * `SharedFlights` in Redis (`redis-shared-flights.ts`), as two processes of one deployment see it (two instances on
 * their own connections, one prefix): one claim wins; the leader's messages reach a follower while the lead goes on,
 * in order, then its answer, also for a follower that comes late; a failed, late or silent leader ends the feed with
 * nothing; only the holder's end ends a lead, else its lease; and with Redis out of reach every claim leads and every
 * feed ends at once, so requests go upstream. Runs under CI=true.
 */
import { createServer, type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { connectRedis } from '../../src/stores/redis/connect-redis.ts'
import { RedisGuard } from '../../src/stores/redis/redis-guard.ts'
import {
  createRedisSharedFlights,
  type RedisSharedFlights,
} from '../../src/stores/redis/redis-shared-flights.ts'
import { createFakeClock } from '../helpers/fake-clock.ts'
import { createRecordingLogger } from '../helpers/fake-deps.ts'
import { storeServiceUrl } from './check-store-service.ts'
import { createRedisTestPrefix } from './create-redis-test-prefix.ts'
import { requireStoreService } from './define-store-contract.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const instance = async (url: string, prefix: string): Promise<RedisSharedFlights> => {
  const redis = await connectRedis({ url })
  const flights = createRedisSharedFlights({
    redis,
    guard: new RedisGuard({
      mode: 'open',
      logger: createRecordingLogger(),
      timeoutMs: 200,
      clock: createFakeClock(),
    }),
    logger: createRecordingLogger(),
    prefix,
  })
  cleanups.push(async () => {
    await flights.close()
    redis.disconnect()
  })
  return flights
}

/** A sink that records what a feed gave, and resolves when it ends. */
const recorder = () => {
  const messages: string[] = []
  let resolveEnd!: (text: string | null) => void
  const ended = new Promise<string | null>((resolve) => (resolveEnd = resolve))
  const started = performance.now()
  return {
    messages,
    ended,
    elapsed: () => performance.now() - started,
    sink: {
      message: (text: string) => messages.push(text),
      end: (text: string | null) => resolveEnd(text),
    },
  }
}

describe('Redis shared flights', () => {
  requireStoreService('redis')

  const pair = async () => {
    const prefix = createRedisTestPrefix({ label: 'flights' })
    cleanups.push(() => prefix.cleanup())
    const url = storeServiceUrl('redis')
    const [one, two] = await Promise.all([
      instance(url, prefix.prefix),
      instance(url, prefix.prefix),
    ])
    return { one, two }
  }

  const bounds = { firstMs: 5_000, idleMs: 5_000 }

  it('lets one instance lead a key and relays its messages and answer, in order, to the other', async () => {
    const { one, two } = await pair()
    expect(await one.claim('k1', 10_000)).toBe(true)
    expect(await two.claim('k1', 10_000)).toBe(false)
    expect(await one.claim('k1', 10_000)).toBe(false)
    expect(await two.claim('k2', 10_000)).toBe(true)
    const relay = one.lead('k1', 10_000)
    const early = recorder()
    two.follow('k1', bounds, early.sink)
    relay.send('{"served":1}')
    relay.send('{"chunk":1}')
    await new Promise((resolve) => setTimeout(resolve, 100))
    // The messages arrive while the lead goes on.
    expect(early.messages).toEqual(['{"served":1}', '{"chunk":1}'])
    relay.send('{"chunk":2}')
    relay.end('{"answer":1}')
    expect(await early.ended).toBe('{"answer":1}')
    expect(early.messages).toEqual(['{"served":1}', '{"chunk":1}', '{"chunk":2}'])
    // Ended: the lead is free, and one that comes now still reads the relay from its start.
    const late = recorder()
    two.follow('k1', bounds, late.sink)
    expect(await late.ended).toBe('{"answer":1}')
    expect(late.messages).toHaveLength(3)
    expect(await two.claim('k1', 10_000)).toBe(true)
  })

  it('ends a feed with nothing when the leader fails, gives nothing in time, or falls silent', async () => {
    const { one, two } = await pair()
    await one.claim('failed', 10_000)
    const failing = one.lead('failed', 10_000)
    const failed = recorder()
    two.follow('failed', bounds, failed.sink)
    failing.send('{"chunk":1}')
    failing.end(null)
    expect(await failed.ended).toBeNull()

    await one.claim('slow', 10_000)
    const slow = recorder()
    two.follow('slow', { firstMs: 300, idleMs: 5_000 }, slow.sink)
    expect(await slow.ended).toBeNull()
    expect(slow.elapsed()).toBeGreaterThanOrEqual(290)
    expect(slow.elapsed()).toBeLessThan(1_500)

    await one.claim('silent', 10_000)
    const silentRelay = one.lead('silent', 10_000)
    silentRelay.send('{"chunk":1}')
    const silent = recorder()
    two.follow('silent', { firstMs: 5_000, idleMs: 300 }, silent.sink)
    expect(await silent.ended).toBeNull()
    expect(silent.messages).toEqual(['{"chunk":1}'])
  })

  it('ends a lead only by its holder’s end, or when its lease runs out unrenewed', async () => {
    const { one, two } = await pair()
    await one.claim('mine', 10_000)
    two.lead('mine', 10_000).end(null)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await two.claim('mine', 10_000)).toBe(false)
    await one.claim('short', 200)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await two.claim('short', 10_000)).toBe(true)
    // A live relay renews its lead past the first lease; once silent, the lead lapses after the renewal.
    await one.claim('live', 200)
    const relay = one.lead('live', 300)
    for (let beat = 0; beat < 4; beat += 1) {
      relay.send(`{"chunk":${beat}}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(await two.claim('live', 10_000)).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(await two.claim('live', 10_000)).toBe(true)
  })

  it('with Redis out of reach, leads every claim and ends every feed at once', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    const flights = await instance(`redis://127.0.0.1:${port}`, 'gatehouse-test:down:')
    expect(await flights.claim('k', 10_000)).toBe(true)
    flights.lead('k', 10_000).send('dropped')
    const feed = recorder()
    flights.follow('k', bounds, feed.sink)
    expect(await feed.ended).toBeNull()
    expect(feed.elapsed()).toBeLessThan(1_500)
  })
})
