import { afterEach, describe, expect, it } from 'vitest'
import { createPriceTable } from '../../../config/price-table.ts'
import type {
  StoredObjectRequest,
  UpstreamResponse,
} from '../../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../../providers/spec/provider-error.ts'
import { createFakeClock, type FakeClock } from '../../../test/helpers/fake-clock.ts'
import { createRecordingLogger, createRecordingUsageSink } from '../../../test/helpers/fake-deps.ts'
import type { ProviderEntry } from '../../core/provider-registry.ts'
import type { ResolvedProvider } from '../../core/resolve-config.ts'
import type { UsageEvent } from '../../core/usage.ts'
import type { AdmissionTicket } from '../../stores/admission-store.ts'
import { createMemoryAdmissionStore } from '../../stores/memory/memory-admission-store.ts'
import { createMemoryResponseStore } from '../../stores/memory/memory-response-store.ts'
import type { PendingUsage } from '../../stores/response-store.ts'
import {
  createBackgroundPoller,
  nextPollDelay,
  type BackgroundPoller,
} from './background-poller.ts'
import { createBackgroundUsageSettler } from './background-usage.ts'

const start = Date.UTC(2026, 5, 1, 12)
const settings = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  maxAgeMs: 300_000,
  sweepIntervalMs: 60_000,
}

/** What the provider answers, in turn: a status (with usage once done), an HTTP error status, or a thrown failure. */
type Answer = { status: string; usage?: Record<string, unknown> } | { http: number }

const json = (status: number, body: unknown): UpstreamResponse => {
  const bytes = new TextEncoder().encode(JSON.stringify(body))
  return {
    status,
    headers: new Headers({ 'content-type': 'application/json' }),
    body: new ReadableStream({
      start: (controller) => {
        controller.enqueue(bytes)
        controller.close()
      },
    }),
    bytes: async () => bytes,
  }
}

const usage = {
  input_tokens: 1_000,
  output_tokens: 250,
  output_tokens_details: { reasoning_tokens: 50 },
}

const setUp = (answers: Answer[]) => {
  const clock = createFakeClock(start)
  const logger = createRecordingLogger()
  const store = createMemoryResponseStore({ clock })
  const usageSink = createRecordingUsageSink()
  const admission = createMemoryAdmissionStore({ clock, loadSpent: async () => 0 })
  const asked: { at: number; request: StoredObjectRequest }[] = []
  const provider = {
    config: {
      id: 'openai',
      timeouts: { connectMs: 1_000, firstByteMs: 5_000, totalMs: 10_000, idleMs: 5_000 },
    } as unknown as ResolvedProvider,
    adapter: {
      id: 'openai',
      forwards: ['responses'],
      chat: () => Promise.reject(new Error('unused')),
      streamChat: () => Promise.reject(new Error('unused')),
      requestStored: async (request: StoredObjectRequest) => {
        asked.push({ at: clock.now(), request })
        const answer = answers.shift() ?? { status: 'in_progress' }
        if ('http' in answer)
          throw new ProviderError({
            kind: 'http',
            status: answer.http,
            message: `HTTP ${answer.http}`,
            providerId: 'openai',
          })
        return json(200, { id: request.id, object: 'response', usage: null, ...answer })
      },
    },
  } as unknown as ProviderEntry
  const settler = createBackgroundUsageSettler({
    store,
    usage: usageSink,
    admission,
    prices: createPriceTable({
      providers: { openai: { type: 'openai' } },
      overrides: { 'gpt-4o-mini*': { input: 10, output: 40 } },
    }),
    clock,
    logger,
  })
  const pollers: BackgroundPoller[] = []
  const startPoller = (overrides: Partial<typeof settings> = {}) => {
    const poller = createBackgroundPoller({
      store,
      providers: { get: (id) => (id === 'openai' ? provider : undefined) },
      settler,
      clock,
      logger,
      settings: { ...settings, ...overrides },
    })
    pollers.push(poller)
    return poller
  }
  return { clock, logger, store, usageSink, admission, asked, startPoller, pollers }
}

const event = (requestId: string): UsageEvent => ({
  requestId,
  principalId: 'key_1',
  tenantId: 'ten_1',
  keyId: 'key_1',
  userId: null,
  tags: [],
  dialect: 'openai',
  operation: 'responses',
  requestedModel: 'gpt-4o-mini',
  route: null,
  provider: 'openai',
  model: 'gpt-4o-mini-2024-07-18',
  stream: false,
  status: 200,
  refused: false,
  usage: null,
  attempts: 1,
  startedAt: start,
  latencyMs: 20,
  ttfbMs: 15,
  costMicroUsd: null,
  clientAborted: false,
  error: null,
})

/** Records a background response as the create would, with the reservation its admission held. */
const recordQueued = async (
  fixture: ReturnType<typeof setUp>,
  id: string,
  poller?: BackgroundPoller
): Promise<AdmissionTicket> => {
  const budget = { limitMicroUsd: 1_000_000, period: 'month' as const }
  const decision = await fixture.admission.admit({
    tenant: { id: 'ten_1', limits: {}, budget: null },
    key: { id: 'key_1', limits: {}, budget },
    tokens: 0,
    costMicroUsd: 50_000,
    reservationTtlMs: settings.maxAgeMs + 600_000,
  })
  if (!decision.allowed) throw new Error('refused')
  const pending: PendingUsage = { event: event(`req_${id}`), reservation: decision.ticket }
  const createdAt = fixture.clock.now()
  const pollAt = poller?.firstPollAt(createdAt) ?? createdAt
  await fixture.store.put(
    {
      id,
      tenantId: 'ten_1',
      createdAt,
      expiresAt: createdAt + 30 * 86_400_000,
      model: 'gpt-4o-mini',
      provider: 'openai',
      response: { id, object: 'gatehouse.held_upstream', output: [] },
      input: [],
      context: [],
      pendingUsage: pending,
    },
    { pollAt }
  )
  poller?.wake(pollAt)
  return decision.ticket
}

/** The key's budget as it stands: spent, and reserved by what is in flight. */
const keyBudget = async (fixture: ReturnType<typeof setUp>) => {
  const decision = await fixture.admission.admit({
    tenant: { id: 'ten_1', limits: {}, budget: null },
    key: { id: 'key_1', limits: {}, budget: { limitMicroUsd: 1_000_000, period: 'month' } },
    tokens: 0,
    costMicroUsd: 0,
  })
  if (!decision.allowed) throw new Error('refused')
  await fixture.admission.settle(decision.ticket, { tokens: 0, costMicroUsd: 0 })
  return decision.budgets[0]
}

const poll = async (clock: FakeClock, ms: number): Promise<void> => {
  await clock.advance(ms)
  // Let the round's store calls and the settlement finish.
  for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setImmediate(resolve))
}

let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups) await cleanup()
  cleanups = []
})

describe('background poller', () => {
  it('waits as long again as the response’s age, from 1 s, doubling to 30 s', () => {
    const delays = [0, 1_000, 2_000, 4_000, 16_000, 32_000, 120_000].map((age) =>
      nextPollDelay(age, settings)
    )
    expect(delays).toEqual([1_000, 1_000, 2_000, 4_000, 16_000, 30_000, 30_000])
  })

  it('polls with backoff until the response finished, then settles it once: tokens, cost, reservation', async () => {
    const fixture = setUp([
      { status: 'queued' },
      { status: 'in_progress' },
      { status: 'in_progress' },
      { status: 'in_progress' },
      { status: 'completed', usage },
    ])
    const poller = fixture.startPoller()
    cleanups.push(() => poller.close())
    await recordQueued(fixture, 'resp_1', poller)
    for (let step = 0; step < 40; step += 1) await poll(fixture.clock, 500)
    // 1, 2, 4, 8 and 16 s after the create: each wait as long as the age.
    expect(fixture.asked.map(({ at }) => at - start)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000])
    expect(fixture.asked[0].request).toEqual({
      operation: 'responses',
      method: 'GET',
      id: 'resp_1',
      query: [],
    })
    const settled = fixture.usageSink.events
    expect(settled).toHaveLength(1)
    // 1,000 input at $10/M and 250 output at $40/M: 10,000 + 10,000 micro-USD.
    expect(settled[0]).toMatchObject({
      kind: 'settlement',
      requestId: 'req_resp_1',
      keyId: 'key_1',
      model: 'gpt-4o-mini-2024-07-18',
      startedAt: start,
      usage: { inputTokens: 1_000, outputTokens: 250, reasoningTokens: 50 },
      costMicroUsd: 20_000,
      clientAborted: false,
      error: null,
    })
    expect(await keyBudget(fixture)).toMatchObject({ spentMicroUsd: 20_000, reservedMicroUsd: 0 })
    expect(await fixture.store.get('resp_1', { tenantId: 'ten_1' })).not.toHaveProperty(
      'pendingUsage'
    )
    // Settled: never asked again.
    await poll(fixture.clock, 120_000)
    expect(fixture.asked).toHaveLength(5)
  })

  it('records a failed response as an error, with its code only', async () => {
    const fixture = setUp([
      {
        status: 'failed',
        error: { code: 'server_error', message: 'secret details' },
        usage,
      } as Answer,
    ])
    const poller = fixture.startPoller()
    cleanups.push(() => poller.close())
    await recordQueued(fixture, 'resp_f', poller)
    await poll(fixture.clock, 1_000)
    expect(fixture.usageSink.events).toMatchObject([
      {
        kind: 'settlement',
        error: 'background response failed: server_error',
        costMicroUsd: 20_000,
      },
    ])
  })

  it('tries again after a failure to ask, and gives up on one its provider no longer has', async () => {
    const fixture = setUp([{ http: 503 }, { http: 404 }])
    const poller = fixture.startPoller()
    cleanups.push(() => poller.close())
    await recordQueued(fixture, 'resp_gone', poller)
    await poll(fixture.clock, 1_000)
    expect(fixture.logger.lines.at(-1)).toMatchObject({
      level: 'warn',
      fields: { responseId: 'resp_gone' },
    })
    await poll(fixture.clock, 1_000)
    expect(fixture.asked).toHaveLength(2)
    // Given up: the reservation is charged in full, and recorded as charged (estimated), no tokens are made up, and
    // nobody asks again.
    expect(fixture.usageSink.events).toMatchObject([
      { kind: 'settlement', usage: null, costMicroUsd: 50_000, estimated: true },
    ])
    expect(await keyBudget(fixture)).toMatchObject({ spentMicroUsd: 50_000, reservedMicroUsd: 0 })
    expect(fixture.logger.lines.at(-1)).toMatchObject({
      level: 'warn',
      fields: { responseId: 'resp_gone', why: 'its provider no longer has it' },
    })
    await poll(fixture.clock, 60_000)
    expect(fixture.asked).toHaveLength(2)
  })

  it('gives up on a response still running past its age bound', async () => {
    const fixture = setUp([])
    const poller = fixture.startPoller({ maxAgeMs: 20_000 })
    cleanups.push(() => poller.close())
    await recordQueued(fixture, 'resp_slow', poller)
    for (let step = 0; step < 60; step += 1) await poll(fixture.clock, 1_000)
    // 1, 2, 4, 8, 16 s; the next (32 s) would be past 20 s: given up then.
    expect(fixture.asked.map(({ at }) => at - start)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000])
    expect(fixture.logger.lines.at(-1)?.fields).toMatchObject({ responseId: 'resp_slow' })
    expect(await keyBudget(fixture)).toMatchObject({ spentMicroUsd: 50_000, reservedMicroUsd: 0 })
    expect(fixture.usageSink.events).toMatchObject([
      { kind: 'settlement', usage: null, costMicroUsd: 50_000, estimated: true },
    ])
  })

  it('finds at its sweep what it was not told about (another instance, before a restart), once due', async () => {
    const fixture = setUp([{ status: 'completed', usage }])
    // Recorded by an instance that then stopped: its first poll was due a second after the create.
    await recordQueued(fixture, 'resp_orphan')
    await fixture.store.schedulePoll('resp_orphan', start + 1_000)
    await poll(fixture.clock, 5_000)
    const poller = fixture.startPoller()
    cleanups.push(() => poller.close())
    // At once after it starts.
    await poll(fixture.clock, 0)
    expect(fixture.asked).toHaveLength(1)
    expect(fixture.usageSink.events).toHaveLength(1)
  })

  it('leaves a due response to the poller that took it; the other takes it once the lease runs out', async () => {
    const fixture = setUp([{ status: 'in_progress' }, { status: 'completed', usage }])
    const one = fixture.startPoller({ sweepIntervalMs: 1_000 })
    const two = fixture.startPoller({ sweepIntervalMs: 1_000 })
    cleanups.push(
      () => one.close(),
      () => two.close()
    )
    await recordQueued(fixture, 'resp_shared', one)
    await poll(fixture.clock, 1_000)
    await poll(fixture.clock, 1_000)
    // Two pollers, polled once per poll time, settled once.
    expect(fixture.asked.map(({ at }) => at - start)).toEqual([1_000, 2_000])
    expect(fixture.usageSink.events).toHaveLength(1)
  })

  it('stops on close: no timer left, nothing asked after', async () => {
    const fixture = setUp([])
    const poller = fixture.startPoller()
    await recordQueued(fixture, 'resp_1', poller)
    await poller.close()
    expect(fixture.clock.pendingTimers()).toBe(0)
    poller.wake(fixture.clock.now())
    await poll(fixture.clock, 10_000)
    expect(fixture.asked).toEqual([])
    // What it owes is still in the store, for another instance.
    expect((await fixture.store.get('resp_1', { tenantId: 'ten_1' }))?.pendingUsage).toBeDefined()
  })
})
