/**
 * The usage event of one request, assembled from what the core already knows. Today it is logged after the
 * response (through `defer`); the tenants issue (ROADMAP 1) writes it to a UsageStore in batches.
 */
import type { Dialect, Usage } from '../../providers/spec/chat-types.ts'
import type { Deps } from '../deps.ts'

export type UsageEvent = {
  requestId: string
  principalId: string
  dialect: Dialect
  operation: 'chat' | 'count-tokens' | 'embeddings'
  /** The model the client asked for. */
  requestedModel: string
  provider: string | null
  /** The upstream model name. */
  model: string | null
  stream: boolean
  /** HTTP status sent to the client (200 even when a stream later failed; `error` then says why). */
  status: number
  /** `null` = the provider did not report usage (unknown is not zero). */
  usage: Usage | null
  attempts: number
  /** Epoch ms. */
  startedAt: number
  latencyMs: number
  /** Time to the first upstream byte; `null` when none arrived. */
  ttfbMs: number | null
  error: string | null
}

export type UsageRecorder = { record(event: UsageEvent): void }

/**
 * Records usage events after the response, never blocking it, in batches: the events of one turn of the event loop
 * go out together, as one deferred task (`deps.defer`: `waitUntil` on Workers) rather than one per request. A task
 * per request, with its promise chain, cost about as much as writing the line itself.
 */
export const createUsageRecorder = (deps: Pick<Deps, 'defer' | 'logger'>): UsageRecorder => {
  let pending: UsageEvent[] = []
  const flush = (): void => {
    const events = pending
    pending = []
    let failure: unknown
    for (const event of events) {
      try {
        deps.logger.info(event, 'usage')
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
      if (pending.length === 1) deps.defer(Promise.resolve().then(flush))
    },
  }
}
