/**
 * The usage event of one request, and the one way it leaves the gateway: the app-wide `UsageSink` (`Deps.usage`).
 * Every request to `/v1/*` produces one event, those refused before routing (401, 413, a 400 from validation)
 * included, marked `refused`. The sink decides where events go: today a log line each (`createLogUsageSink`); the
 * tenants issue writes them to a usage store in batches.
 */
import type { Dialect, Usage } from '../../providers/spec/chat-types.ts'
import type { Operation } from '../../providers/spec/operation.ts'
import type { Logger } from './logger.ts'

export type UsageEvent = {
  requestId: string
  /** `null` when the request was refused before a key was accepted. */
  principalId: string | null
  tenantId: string | null
  /** The tenant key that made the request; `null` for the master key or before a key was accepted. */
  keyId: string | null
  /** The end user the client named: OpenAI's `user`, Anthropic's `metadata.user_id`, or `x-gatehouse-user`. */
  userId: string | null
  /** Labels from `x-gatehouse-tags` (comma-separated), for grouping usage. */
  tags: string[]
  dialect: Dialect
  /** `null` for a request refused on a path that is no operation (`GET /v1/models` without a key). */
  operation: Operation | null
  /** The model the client asked for; `null` when the request was refused before its body was read. */
  requestedModel: string | null
  /** The route (alias) the model resolved through. */
  route: string | null
  provider: string | null
  /** The upstream model name. */
  model: string | null
  stream: boolean
  /** HTTP status sent to the client (200 even when a stream later failed; `error` then says why). */
  status: number
  /** Refused before routing: authentication, body limit, validation. Nothing was sent upstream. */
  refused: boolean
  /** `null` = the provider did not report usage (unknown is not zero). */
  usage: Usage | null
  attempts: number
  /** Epoch ms. */
  startedAt: number
  latencyMs: number
  /** Time to the first upstream byte; `null` when none arrived. */
  ttfbMs: number | null
  /** Integer micro-USD at the configured prices; `null` when the price or a count it needs is unknown. */
  costMicroUsd: number | null
  /** The client went away before its response was complete (a stream it cut off is accounted as far as it went). */
  clientAborted: boolean
  error: string | null
  /**
   * `settlement`: no request of its own, but what a background response's request could not know when it ended
   * (`background: true`: answered before the model ran), learned once the response finished: its tokens and cost,
   * whether it failed (`error`) or was cancelled (`clientAborted`), with the request's id, dimensions and start time.
   * Roll-ups add these to the request's without counting a request again. Absent: a request's own event.
   */
  kind?: 'settlement'
  /**
   * What the prompt cache did: `hit` (answered from the cache: no provider cost, zero tokens), `miss`, `bypass`;
   * `null` or absent when the cache is off for the route.
   */
  cache?: 'hit' | 'miss' | 'bypass' | null
  /** For a hit: what the answer cost when it was made, at today's prices (micro-USD); `null` when unknown. */
  savedCostMicroUsd?: number | null
  /**
   * `usage` and `costMicroUsd` are the gateway's estimate, not the upstream's report: a stream that ended before its
   * usage arrived (the client left, the upstream cut it, a server that reports none) is counted from what passed (the
   * request's estimated input, the output deltas seen); when nothing could be counted and a budget reserved the
   * request, the cost is what the budget was charged (the reservation). Absent or `false`: as reported, or unknown.
   */
  estimated?: boolean
}

/**
 * A settlement's event (`UsageEvent.kind`): the request's identity, dimensions and start, with what was learned after
 * it ended (a background response's tokens and cost, or the budget's charge when they cannot be learned).
 */
export const settlementEvent = (
  created: UsageEvent,
  learned: Pick<
    UsageEvent,
    'usage' | 'costMicroUsd' | 'clientAborted' | 'error' | 'latencyMs' | 'estimated'
  >
): UsageEvent => ({
  ...created,
  kind: 'settlement',
  usage: learned.usage,
  costMicroUsd: learned.costMicroUsd,
  estimated: learned.estimated === true,
  attempts: 0,
  latencyMs: learned.latencyMs,
  ttfbMs: null,
  clientAborted: learned.clientAborted,
  error: learned.error,
})

/**
 * Where usage events go. `record` never blocks and never throws at the caller: it queues. `flush` writes what is
 * queued; `close` flushes and releases the sink (the Node shutdown awaits it after the drain, before exit).
 */
export interface UsageSink {
  record(event: UsageEvent): void
  flush(): Promise<void>
  close(): Promise<void>
}

/**
 * Usage as one `usage` log line per event, written after the response, never blocking it, in batches: the events of
 * one turn of the event loop go out together, as one deferred task (`defer`: `waitUntil` on Workers) rather than one
 * per request. A task per request, with its promise chain, cost about as much as writing the line itself.
 */
export const createLogUsageSink = (options: {
  logger: Logger
  defer: (work: Promise<unknown>) => void
}): UsageSink => {
  const { logger, defer } = options
  let pending: UsageEvent[] = []
  const write = (): void => {
    const events = pending
    pending = []
    let failure: unknown
    for (const event of events) {
      try {
        logger.info(event, 'usage')
      } catch (error) {
        failure ??= error
      }
    }
    // The rest of the batch is written first; the deferred task then reports the failure (Node logs it).
    if (failure !== undefined) throw failure
  }
  return {
    record(event) {
      pending.push(event)
      if (pending.length === 1) defer(Promise.resolve().then(write))
    },
    flush: async () => {
      if (pending.length > 0) write()
    },
    close: async () => {
      if (pending.length > 0) write()
    },
  }
}
