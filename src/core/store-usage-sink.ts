/**
 * The usage sink that keeps every event in the usage store (`Stores.usage`), in batches, off the request path
 * (`createBatchedStoreWriter`: failed writes retried and kept, a bounded queue, outages logged once). Each event gets
 * its own id here (a UUID v7, time-ordered), so that a batch written again after a failure that did commit is not
 * counted twice. At shutdown
 * `close` writes what is queued, retrying within `closeDeadlineMs`, and logs what could not be written. An event
 * recorded once `close` has finished can no longer be written (the store closes next): it is logged with its request
 * id, never dropped silently.
 */
import { createBatchedStoreWriter } from './batched-store-writer.ts'
import type { Clock } from './clock.ts'
import type { Logger } from './logger.ts'
import { timeOrderedId } from './time-ordered-id.ts'
import type { UsageEvent, UsageSink } from './usage.ts'
import type { UsageRecord, UsageStore } from '../stores/usage-store.ts'

/** Longest kept error message: events carry the gateway's own messages, never an upstream body. */
const maxErrorLength = 500

export const toUsageRecord = (event: UsageEvent, id: string): UsageRecord => ({
  id,
  kind: event.kind ?? 'request',
  time: event.startedAt,
  requestId: event.requestId,
  tenantId: event.tenantId,
  keyId: event.keyId,
  userId: event.userId,
  tags: event.tags,
  operation: event.operation,
  requestedModel: event.requestedModel,
  provider: event.provider,
  model: event.model,
  attempts: event.attempts,
  status: event.status,
  stream: event.stream,
  error: event.error === null ? null : event.error.slice(0, maxErrorLength),
  inputTokens: event.usage?.inputTokens ?? null,
  outputTokens: event.usage?.outputTokens ?? null,
  cachedTokens: event.usage?.cachedInputTokens ?? null,
  cacheWriteTokens: event.usage?.cacheWriteInputTokens ?? null,
  reasoningTokens: event.usage?.reasoningTokens ?? null,
  costMicroUsd: event.costMicroUsd,
  latencyMs: event.latencyMs,
  ttfbMs: event.ttfbMs,
  clientAborted: event.clientAborted,
  // Optional in the event (a refusal's has neither): read once each, no object made for them.
  cache: event.cache ?? null,
  savedCostMicroUsd: event.savedCostMicroUsd ?? null,
  estimated: event.estimated === true,
})

export const createStoreUsageSink = (options: {
  store: Pick<UsageStore, 'record'>
  clock: Clock
  logger: Logger
  batchSize: number
  flushIntervalMs: number
  maxBuffered: number
  /** How long `close` keeps retrying a failing store before giving up (default 4 s). */
  closeDeadlineMs?: number
  newId?: () => string
}): UsageSink & {
  stats: () => ReturnType<ReturnType<typeof createBatchedStoreWriter>['stats']>
} => {
  // Time-ordered: the store's key index then grows at its end (`time-ordered-id.ts`).
  const newId = options.newId ?? (() => timeOrderedId(options.clock.now()))
  const writer = createBatchedStoreWriter<UsageRecord>({
    write: (batch) => options.store.record(batch),
    clock: options.clock,
    logger: options.logger,
    what: 'usage events',
    batchSize: options.batchSize,
    flushIntervalMs: options.flushIntervalMs,
    maxBuffered: options.maxBuffered,
  })
  let closed = false
  return {
    record: (event) => {
      if (closed)
        options.logger.error(
          { requestId: event.requestId },
          'usage event: recorded after shutdown closed the usage store; not written'
        )
      else writer.add(toUsageRecord(event, newId()))
    },
    flush: async () => {
      await writer.flush({ deadlineMs: 0 })
    },
    close: async () => {
      const left = await writer.flush({ deadlineMs: options.closeDeadlineMs ?? 4_000 })
      closed = true
      if (left > 0)
        options.logger.error({ unwritten: left }, 'usage events: not written at shutdown')
    },
    stats: () => writer.stats(),
  }
}

/** One sink that gives every event to each of `sinks` (the store, and the log line). */
export const fanOutUsageSinks = (sinks: readonly UsageSink[]): UsageSink => ({
  record: (event) => {
    for (const sink of sinks) sink.record(event)
  },
  flush: async () => {
    await Promise.all(sinks.map((sink) => sink.flush()))
  },
  close: async () => {
    await Promise.all(sinks.map((sink) => sink.close()))
  },
})
