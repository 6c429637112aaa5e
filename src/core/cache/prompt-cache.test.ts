import { describe, expect, it } from 'vitest'
import { createPriceTable } from '../../../config/price-table.ts'
import type { ChatResult } from '../../../providers/spec/chat-types.ts'
import { createFakeClock } from '../../../test/helpers/fake-clock.ts'
import { createRecordingLogger, createRecordingObserver } from '../../../test/helpers/fake-deps.ts'
import { createMemoryCacheStore } from '../../stores/memory/memory-cache-store.ts'
import type { CacheStore } from '../../stores/cache-store.ts'
import type { CallRoute, ServedBy } from '../chat-call.ts'
import type { Target } from '../model-router.ts'
import { masterPrincipal } from '../principal.ts'
import { defaultCachePolicy, type CachePolicy, type ResolvedCache } from '../resolve-config.ts'
import { createPromptCache, type CacheRequest } from './prompt-cache.ts'
import type { Flight } from './single-flight.ts'

const route: CallRoute = {
  name: null,
  targets: [
    {
      provider: { config: { id: 'openai' } },
      model: 'gpt-4o-mini',
      timeouts: { totalMs: 60_000 },
    } as unknown as Target,
  ],
}

const servedBy: ServedBy = { provider: 'openai', model: 'gpt-4o-mini', attempts: 1, firstByteAt: 0 }

const answerWith = (
  finish: ChatResult['choices'][0]['finishReason']['unified'] = 'stop'
): ChatResult => ({
  id: 'chatcmpl-1',
  model: 'gpt-4o-mini',
  created: 1,
  choices: [
    {
      index: 0,
      content: [{ type: 'text', text: 'hi' }],
      finishReason: { unified: finish, raw: finish },
    },
  ],
  usage: {
    inputTokens: 1_000_000,
    outputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteInputTokens: null,
    reasoningTokens: null,
  },
})

/** Resolves once `count` requests follow `flight` (their keys are hashed off the event loop's turn). */
const following = async (flight: Flight, count: number): Promise<void> => {
  while (flight.followers < count) await new Promise((resolve) => setTimeout(resolve, 1))
}

const setup = (options: { policy?: Partial<CachePolicy>; store?: CacheStore } = {}) => {
  const clock = createFakeClock()
  const policy = { ...defaultCachePolicy, enabled: true, ...options.policy }
  const config: ResolvedCache = {
    enabled: true,
    backend: 'memory',
    maxBytes: 1_000_000,
    timeoutMs: 50,
    compressAboveBytes: 1024,
    flightWaitMs: 30_000,
    defaults: policy,
    routes: { off: { ...policy, enabled: false } },
  }
  const deferred: Promise<unknown>[] = []
  const observer = createRecordingObserver()
  const logger = createRecordingLogger()
  const cache = createPromptCache({
    config,
    store: options.store ?? createMemoryCacheStore({ clock }),
    prices: createPriceTable({ providers: { openai: { type: 'openai' } } as never, overrides: {} }),
    clock,
    logger,
    observer,
    defer: (work) => void deferred.push(work),
  })
  const request = (more: Partial<CacheRequest> = {}): CacheRequest => ({
    operation: 'chat-completions',
    route,
    principal: masterPrincipal,
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
    forwardedHeaders: {},
    requestHeaders: new Headers(),
    stream: false,
    requestId: 'req-1',
    ...more,
  })
  const settle = () => Promise.all(deferred.splice(0))
  return { cache, clock, request, settle, observer, logger }
}

describe('prompt cache sessions', () => {
  it('is off (null) on a route whose policy is off, and costs nothing else', async () => {
    const { cache, request, observer } = setup()
    expect(await cache.open(request({ route: { ...route, name: 'off' } }))).toBeNull()
    expect(observer.events).toEqual([])
  })

  it('stores a complete answer after a miss, then hits with its age and what it saved', async () => {
    const { cache, clock, request, settle, observer } = setup()
    const miss = (await cache.open(request()))!
    expect(miss.status).toBe('miss')
    expect(miss.assemble).toBe(true)
    miss.finish({ status: 200, error: null, answer: answerWith() }, servedBy)
    await settle()
    await clock.advance(5_000)
    const hit = (await cache.open(request({ requestId: 'req-2' })))!
    expect(hit.status).toBe('hit')
    expect(hit.hit).toMatchObject({
      source: 'store',
      provider: 'openai',
      model: 'gpt-4o-mini',
      ageMs: 5_000,
    })
    expect(hit.hit!.answer).toEqual(answerWith())
    // A million input tokens of gpt-4o-mini: $0.15.
    expect(hit.hit!.savedCostMicroUsd).toBe(150_000)
    const headers: Record<string, string> = {}
    hit.addHeaders(headers)
    expect(headers).toEqual({
      'x-gatehouse-cache': 'hit',
      'x-gatehouse-cache-key': hit.key!,
      age: '5',
    })
    expect(
      observer.events.map((event) => [event.type, 'outcome' in event ? event.outcome : null])
    ).toEqual([
      ['cache', 'miss'],
      ['cache-stored', null],
      ['cache', 'hit'],
    ])
  })

  it('parses a stored value once: its hits share the answer, its saving and its encodings, until it is replaced', async () => {
    const store = createMemoryCacheStore({ clock: createFakeClock() })
    const reads: string[] = []
    const counting: CacheStore = {
      get: async (key) => {
        const got = await store.get(key)
        if (got !== null) reads.push(got.value)
        return got
      },
      set: (key, value, options) => store.set(key, value, options),
      delete: (purge) => store.delete(purge),
    }
    const { cache, request, settle } = setup({ store: counting })
    const miss = (await cache.open(request()))!
    miss.finish({ status: 200, error: null, answer: answerWith() }, servedBy)
    await settle()
    const first = (await cache.open(request()))!.hit!
    const second = (await cache.open(request()))!.hit!
    expect(reads).toHaveLength(2)
    expect(second.answer).toBe(first.answer)
    expect(second.encoded).toBe(first.encoded)
    expect(second.encoded).toBeInstanceOf(Map)
    expect(second.savedCostMicroUsd).toBe(150_000)

    // A new answer under the key (`no-cache` stores what it gets): the next hits derive it afresh.
    const again = (await cache.open(
      request({ requestHeaders: new Headers({ 'cache-control': 'no-cache' }) })
    ))!
    const changed = answerWith()
    changed.choices[0].content = [{ type: 'text', text: 'hello again' }]
    changed.usage!.inputTokens = 2_000_000
    again.finish({ status: 200, error: null, answer: changed }, servedBy)
    await settle()
    const third = (await cache.open(request()))!.hit!
    expect(third.answer).toEqual(changed)
    expect(third.encoded).not.toBe(first.encoded)
    expect(third.savedCostMicroUsd).toBe(300_000)
  })

  it('derives afresh from a store that keeps no memo, and gives a follower no encodings', async () => {
    const store = createMemoryCacheStore({ clock: createFakeClock() })
    const memoless: CacheStore = {
      get: async (key) => {
        const got = await store.get(key)
        return got === null ? null : { value: got.value, ageMs: got.ageMs }
      },
      set: (key, value, options) => store.set(key, value, options),
      delete: (purge) => store.delete(purge),
    }
    const { cache, request, settle } = setup({ store: memoless })
    const leader = (await cache.open(request()))!
    const follower = cache.open(request())
    await following(cache.flights.get(leader.key!)!, 1)
    leader.finish({ status: 200, error: null, answer: answerWith() }, servedBy)
    expect((await follower)!.hit!.encoded).toBeNull()
    await settle()
    const first = (await cache.open(request()))!.hit!
    const second = (await cache.open(request()))!.hit!
    expect(second.answer).toEqual(first.answer)
    expect(second.answer).not.toBe(first.answer)
    expect(second.encoded).not.toBe(first.encoded)
  })

  it('stores no content-filtered answer, no excluded finish reason, no error, no non-2xx', async () => {
    const ends = [
      { status: 200, error: null, answer: answerWith('content-filter') },
      { status: 200, error: null, answer: answerWith('length') },
      { status: 200, error: new Error('broke'), answer: answerWith() },
      { status: 400, error: null, answer: answerWith() },
      { status: 200, error: null, answer: null },
    ]
    for (const end of ends) {
      const { cache, request, settle } = setup({ policy: { excludeFinishReasons: ['length'] } })
      ;(await cache.open(request()))!.finish(end, servedBy)
      await settle()
      expect((await cache.open(request()))!.status).toBe('miss')
    }
  })

  it('stores an answer with redacted thinking, which a hit gives back whole, streamed or not', async () => {
    const redacted = answerWith()
    redacted.choices[0].content = [
      { type: 'reasoning', text: '', redactedData: 'EmwKAhgB' },
      { type: 'text', text: 'hello' },
    ]
    const { cache, request, settle } = setup()
    ;(await cache.open(request()))!.finish({ status: 200, error: null, answer: redacted }, servedBy)
    await settle()
    const hit = (await cache.open(request()))!
    expect(hit.status).toBe('hit')
    expect(hit.hit!.answer).toEqual(redacted)
  })

  it('lets identical requests follow the leader: one answer for all, stored once', async () => {
    const { cache, request, settle } = setup()
    const leader = (await cache.open(request()))!
    expect(cache.flights.size).toBe(1)
    const followers = Promise.all([cache.open(request()), cache.open(request())])
    await following(cache.flights.get(leader.key!)!, 2)
    leader.served(servedBy)
    leader.finish({ status: 200, error: null, answer: answerWith() }, servedBy)
    for (const follower of await followers) {
      expect(follower!.status).toBe('hit')
      expect(follower!.hit).toMatchObject({ source: 'flight', provider: 'openai', ageMs: 0 })
      expect(follower!.hit!.answer).toEqual(answerWith())
    }
    await settle()
    expect(cache.flights.size).toBe(0)
  })

  it('sends followers upstream themselves when the leader fails, and they then store what they get', async () => {
    const { cache, request, settle } = setup()
    const leader = (await cache.open(request()))!
    const follower = cache.open(request())
    await following(cache.flights.get(leader.key!)!, 1)
    leader.abandon()
    const own = (await follower)!
    expect(own.status).toBe('miss')
    expect(own.hit).toBeNull()
    expect(own.assemble).toBe(true)
    expect(cache.flights.size).toBe(0)
    own.finish({ status: 200, error: null, answer: answerWith() }, servedBy)
    await settle()
    expect((await cache.open(request()))!.status).toBe('hit')
  })

  it('fails a flight whose call never reported its end, once past its deadline: followers then go upstream', async () => {
    const { cache, clock, request } = setup()
    const leader = (await cache.open(request()))!
    const follower = cache.open(request())
    await following(cache.flights.get(leader.key!)!, 1)
    await clock.advance(60_000 + 5_000)
    expect((await follower)!.status).toBe('miss')
    expect(cache.flights.size).toBe(0)
  })

  it('does not read for no-cache but stores; reads nothing older than max-age', async () => {
    const { cache, clock, request, settle } = setup()
    const headers = (init: Record<string, string>) => ({ requestHeaders: new Headers(init) })
    const fresh = (await cache.open(request(headers({ 'cache-control': 'no-cache' }))))!
    expect(fresh.status).toBe('bypass')
    expect(fresh.assemble).toBe(true)
    fresh.finish({ status: 200, error: null, answer: answerWith() }, servedBy)
    await settle()
    await clock.advance(61_000)
    expect((await cache.open(request(headers({ 'cache-control': 'max-age=60' }))))!.status).toBe(
      'miss'
    )
  })

  it('takes a store that fails as a miss, and logs it', async () => {
    const broken: CacheStore = {
      get: () => Promise.reject(new Error('disk on fire')),
      set: () => Promise.resolve(),
      delete: () => Promise.resolve(0),
    }
    const { cache, request, logger } = setup({ store: broken })
    expect((await cache.open(request()))!.status).toBe('miss')
    expect(logger.lines.map((line) => line.message)).toEqual([
      'prompt cache: the store failed a read',
    ])
  })

  it('bypasses a request it may not cache, without a key and without assembling', async () => {
    const { cache, request } = setup()
    const session = (await cache.open(
      request({ body: { model: 'm', messages: [], temperature: 2 } })
    ))!
    expect(session.status).toBe('bypass')
    expect(session.key).toBeNull()
    expect(session.assemble).toBe(false)
  })
})
