import { describe, expect, it } from 'vitest'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { createRecordingLogger } from '../../test/helpers/fake-deps.ts'
import type { UsageRecord } from '../stores/usage-store.ts'
import { createStoreUsageSink } from './store-usage-sink.ts'
import type { UsageEvent } from './usage.ts'

const event = (requestId: string): UsageEvent => ({
  requestId,
  principalId: 'master',
  tenantId: null,
  keyId: null,
  userId: null,
  tags: [],
  dialect: 'openai',
  operation: 'chat-completions',
  requestedModel: 'gpt-4o-mini',
  route: null,
  provider: 'openai',
  model: 'gpt-4o-mini',
  stream: true,
  status: 200,
  refused: false,
  usage: null,
  attempts: 1,
  startedAt: 0,
  latencyMs: 1,
  ttfbMs: 1,
  costMicroUsd: null,
  clientAborted: false,
  error: null,
})

const setup = () => {
  const logger = createRecordingLogger()
  const written: UsageRecord[] = []
  const sink = createStoreUsageSink({
    store: { record: async (batch) => void written.push(...batch) },
    clock: createFakeClock(),
    logger,
    batchSize: 100,
    flushIntervalMs: 60_000,
    maxBuffered: 1_000,
  })
  return { logger, written, sink }
}

describe('createStoreUsageSink', () => {
  it('writes what is queued when it closes, long before its interval', async () => {
    const { written, sink } = setup()
    sink.record(event('a'))
    sink.record(event('b'))
    await sink.close()
    expect(written.map((record) => record.requestId)).toEqual(['a', 'b'])
    expect(new Set(written.map((record) => record.id)).size).toBe(2)
  })

  it("keeps the prompt cache's outcome and saving, and none for an event that has no cache fields", async () => {
    const { written, sink } = setup()
    sink.record({
      ...event('hit'),
      costMicroUsd: 0,
      cache: 'hit',
      savedCostMicroUsd: 4_200,
    })
    sink.record({ ...event('miss'), cache: 'miss', savedCostMicroUsd: null })
    // A refusal's event, built before routing, carries neither field.
    sink.record({ ...event('refused'), refused: true, status: 401 })
    await sink.flush()
    expect(
      written.map((record) => [record.requestId, record.cache, record.savedCostMicroUsd])
    ).toEqual([
      ['hit', 'hit', 4_200],
      ['miss', 'miss', null],
      ['refused', null, null],
    ])
  })

  it('logs an event recorded after it closed, with its request id, instead of dropping it silently', async () => {
    const { logger, written, sink } = setup()
    await sink.close()
    sink.record(event('late'))
    await sink.flush()
    expect(written).toEqual([])
    expect(logger.lines).toEqual([
      {
        level: 'error',
        fields: { requestId: 'late' },
        message: 'usage event: recorded after shutdown closed the usage store; not written',
      },
    ])
  })
})
