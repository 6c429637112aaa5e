/**
 * `SharedFlights` in Redis (`redis-shared-flights.ts`), as two processes of one deployment see it (two instances on
 * their own connections, one prefix): one claim wins; a wait ends when the lead is released (not before), at its bound,
 * or at once when there is no lead; only the holder's release ends a lead; a lead expires on its own; and with Redis
 * out of reach every claim leads and every wait ends at once, so requests go upstream. Runs under CI=true.
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

const timed = async <T>(work: Promise<T>): Promise<{ value: T; ms: number }> => {
  const started = performance.now()
  const value = await work
  return { value, ms: performance.now() - started }
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
    await Promise.all([one.ready(), two.ready()])
    return { one, two }
  }

  it('lets one instance lead a key; the other waits until the leader releases it', async () => {
    const { one, two } = await pair()
    expect(await one.claim('k1', 10_000)).toBe(true)
    expect(await two.claim('k1', 10_000)).toBe(false)
    expect(await one.claim('k1', 10_000)).toBe(false)
    expect(await two.claim('k2', 10_000)).toBe(true)
    const waiting = timed(two.wait('k1', 5_000))
    let ended = false
    void waiting.then(() => (ended = true))
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(ended).toBe(false)
    await one.release('k1')
    const { value, ms } = await waiting
    expect(value).toBe(true)
    expect(ms).toBeGreaterThanOrEqual(140)
    expect(ms).toBeLessThan(1_000)
    // Released: the next claim leads.
    expect(await two.claim('k1', 10_000)).toBe(true)
  })

  it('ends a wait at once when there is no lead, and at its bound when the lead never ends', async () => {
    const { one, two } = await pair()
    expect((await timed(two.wait('nobody', 5_000))).value).toBe(true)
    await one.claim('held', 10_000)
    const { value, ms } = await timed(two.wait('held', 300))
    expect(value).toBe(false)
    expect(ms).toBeGreaterThanOrEqual(290)
    expect(ms).toBeLessThan(1_500)
  })

  it('ends a lead only by its holder’s release, or when its lease runs out', async () => {
    const { one, two } = await pair()
    await one.claim('mine', 10_000)
    await two.release('mine')
    expect(await two.claim('mine', 10_000)).toBe(false)
    await one.claim('short', 200)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await two.claim('short', 10_000)).toBe(true)
  })

  it('with Redis out of reach, leads every claim and ends every wait at once', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    const flights = await instance(`redis://127.0.0.1:${port}`, 'gatehouse-test:down:')
    expect(flights.live()).toBe(false)
    expect((await timed(flights.claim('k', 10_000))).value).toBe(true)
    const { value, ms } = await timed(flights.wait('k', 5_000))
    expect(value).toBe(false)
    expect(ms).toBeLessThan(100)
  })
})
