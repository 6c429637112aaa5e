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

/** Records after the response, never blocking it. */
export const recordUsage = (deps: Pick<Deps, 'defer' | 'logger'>, event: UsageEvent): void => {
  deps.defer(Promise.resolve().then(() => deps.logger.info(event, 'usage')))
}
