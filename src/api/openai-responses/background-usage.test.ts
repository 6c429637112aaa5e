import { describe, expect, it } from 'vitest'
import { createPriceTable } from '../../../config/price-table.ts'
import { createFakeClock } from '../../../test/helpers/fake-clock.ts'
import { createRecordingLogger, createRecordingUsageSink } from '../../../test/helpers/fake-deps.ts'
import type { UsageEvent } from '../../core/usage.ts'
import { createMemoryResponseStore } from '../../stores/memory/memory-response-store.ts'
import {
  createBackgroundUsageSettler,
  isFinishedResponse,
  watchFinishedEvent,
} from './background-usage.ts'

const start = Date.UTC(2026, 5, 1, 12)
const acme = { tenantId: 'ten_acme' }

const created: UsageEvent = {
  requestId: 'req_1',
  principalId: 'key_1',
  tenantId: 'ten_acme',
  keyId: 'key_1',
  userId: 'alice',
  tags: ['nightly'],
  dialect: 'openai',
  operation: 'responses',
  requestedModel: 'gpt-4o-mini',
  route: 'cheap',
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
}

const setUp = async (model = created.model) => {
  const clock = createFakeClock(start)
  const store = createMemoryResponseStore({ clock })
  const usage = createRecordingUsageSink()
  const logger = createRecordingLogger()
  await store.put({
    id: 'resp_1',
    tenantId: acme.tenantId,
    createdAt: start,
    expiresAt: null,
    model: 'gpt-4o-mini',
    provider: 'openai',
    response: { id: 'resp_1', object: 'gatehouse.held_upstream', output: [] },
    input: [],
    context: [],
    pendingUsage: { event: { ...created, model }, reservation: null },
  })
  const settler = createBackgroundUsageSettler({
    store,
    usage,
    prices: createPriceTable({
      providers: { openai: { type: 'openai' } },
      overrides: { 'gpt-4o-mini*': { input: 10, cachedInput: 5, output: 40 } },
    }),
    clock,
    logger,
  })
  return { clock, store, usage, logger, settler }
}

const finished = (status: string, extra: Record<string, unknown> = {}) => ({
  id: 'resp_1',
  object: 'response',
  status,
  usage: {
    input_tokens: 2_000,
    input_tokens_details: { cached_tokens: 1_000 },
    output_tokens: 100,
    output_tokens_details: { reasoning_tokens: 20 },
    total_tokens: 2_100,
  },
  ...extra,
})

describe('background usage', () => {
  it('settles a finished response once, with the request’s identity and the real tokens and cost', async () => {
    const { settler, usage, clock } = await setUp()
    await clock.advance(90_000)
    expect(await settler.settle('resp_1', acme, finished('incomplete'))).toBe(true)
    expect(await settler.settle('resp_1', acme, finished('completed'))).toBe(false)
    expect(usage.events).toEqual([
      {
        ...created,
        kind: 'settlement',
        usage: {
          inputTokens: 2_000,
          outputTokens: 100,
          cachedInputTokens: 1_000,
          cacheWriteInputTokens: null,
          reasoningTokens: 20,
        },
        // 1,000 uncached at $10/M, 1,000 cached at $5/M, 100 output at $40/M.
        costMicroUsd: 10_000 + 5_000 + 4_000,
        estimated: false,
        attempts: 0,
        latencyMs: 90_000,
        ttfbMs: null,
      },
    ])
  })

  it('settles nothing for a response still running, another id, another tenant, or what is not a response', async () => {
    const { settler, usage } = await setUp()
    for (const [scope, response] of [
      [acme, finished('in_progress')],
      [acme, finished('queued')],
      [acme, { ...finished('completed'), id: 'resp_2' }],
      [acme, 'completed'],
      [acme, undefined],
      [{ tenantId: 'ten_globex' }, finished('completed')],
      [{ tenantId: null }, finished('completed')],
    ] as const)
      expect(await settler.settle('resp_1', scope, response)).toBe(false)
    expect(usage.events).toEqual([])
    expect(await settler.settle('resp_1', acme, finished('completed'))).toBe(true)
  })

  it('says how it ended: failed (its code, never its message), cancelled; no cost without usage or price', async () => {
    const failed = await setUp()
    await failed.settler.settle(
      'resp_1',
      acme,
      finished('failed', { error: { code: 'server_error', message: 'prompt text here' } })
    )
    expect(failed.usage.events[0]).toMatchObject({
      error: 'background response failed: server_error',
      clientAborted: false,
    })

    const cancelled = await setUp()
    await cancelled.settler.settle('resp_1', acme, finished('cancelled', { usage: null }))
    expect(cancelled.usage.events[0]).toMatchObject({
      usage: null,
      costMicroUsd: null,
      clientAborted: true,
      error: null,
    })

    const unpriced = await setUp('my-own-model')
    await unpriced.settler.settle('resp_1', acme, finished('completed'))
    expect(unpriced.usage.events[0]).toMatchObject({
      usage: { inputTokens: 2_000 },
      costMicroUsd: null,
    })
  })

  it('abandons once: what it owed is claimed, nothing recorded, the reason logged', async () => {
    const { settler, usage, logger } = await setUp()
    expect(await settler.abandon('resp_1', acme, 'deleted before it finished')).toBe(true)
    expect(await settler.abandon('resp_1', acme, 'again')).toBe(false)
    expect(await settler.settle('resp_1', acme, finished('completed'))).toBe(false)
    expect(usage.events).toEqual([])
    expect(logger.lines).toMatchObject([
      { level: 'warn', fields: { responseId: 'resp_1', why: 'deleted before it finished' } },
    ])
  })

  it('keeps it owed when the store cannot be reached', async () => {
    const { settler, store, usage, logger } = await setUp()
    const claim = store.claimSettlement
    store.claimSettlement = () => Promise.reject(new Error('database is locked'))
    expect(await settler.settle('resp_1', acme, finished('completed'))).toBe(false)
    expect(logger.lines[0]).toMatchObject({
      level: 'warn',
      fields: { error: 'database is locked' },
    })
    store.claimSettlement = claim
    expect(await settler.settle('resp_1', acme, finished('completed'))).toBe(true)
    expect(usage.events).toHaveLength(1)
  })

  it('finds the terminal event of a replayed stream, split anywhere, once', () => {
    const frame = (type: string, data: Record<string, unknown>) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
    const text =
      frame('response.created', { response: { id: 'resp_1', status: 'queued' } }) +
      frame('response.output_text.delta', { delta: 'hi' }) +
      frame('response.completed', { response: finished('completed') }) +
      frame('response.completed', { response: finished('completed') })
    const bytes = new TextEncoder().encode(text)
    for (const cut of [1, 57, 120, bytes.length - 3]) {
      const seen: unknown[] = []
      const watcher = watchFinishedEvent('resp_1', (response) => seen.push(response))
      watcher.write(bytes.slice(0, cut))
      watcher.write(bytes.slice(cut))
      watcher.end()
      expect(seen).toEqual([finished('completed')])
    }
    // Another response's, a malformed one, or none at all: nothing.
    const seen: unknown[] = []
    const other = watchFinishedEvent('resp_2', (response) => seen.push(response))
    other.write(new TextEncoder().encode(text + 'event: response.failed\ndata: {oops\n\n'))
    other.end()
    expect(seen).toEqual([])
    expect(isFinishedResponse(finished('cancelled'), 'resp_1')).toBe(true)
  })
})
