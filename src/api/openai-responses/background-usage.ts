/**
 * The usage of background responses (`background: true`, forwarded to OpenAI). Their create is answered before the
 * model has run (`queued`, `usage: null`), so the request's usage event has no tokens and no cost, and the budget
 * reservation cannot be settled yet. The rest is learned once the response finishes:
 *
 * - At the create (`handle-chat.ts`): the request's event is recorded as it is (no tokens, no cost), the admission is
 *   deferred (`Admission.defer`: its slot freed and its tokens settled now, its budget reservation held), and both go
 *   into the response's record as its `pendingUsage` (`stored-responses.ts`), the source of truth from then on, on
 *   every instance and across restarts.
 * - When anything shows it finished (`completed`, `incomplete`, `failed`, `cancelled`): a retrieve through the gateway
 *   (not streamed, or a streamed replay that reaches its terminal event), a cancel, a delete (which asks first), or the
 *   poller (`background-poller.ts`). `settle` claims the settlement in the response store (`claimSettlement`: one
 *   caller wins, whichever instance, whatever races), settles the reservation with the real cost and records a usage
 *   event of kind `settlement` with the request's id, dimensions and start time: the tokens and cost the request's
 *   event lacked (a cancelled response's partial usage too, when the provider reports it), added to the same roll-ups
 *   without counting a request twice (`sql-usage-store.ts`).
 * - When it can no longer be learned (deleted before it finished, gone at its provider, still running when the poller
 *   gives up): `abandon` claims it and charges the reservation in full (what a call of unknown cost pays); the
 *   request's tokens stay unknown.
 *
 * https://platform.openai.com/docs/guides/background
 */
import type { PriceTable } from '../../../config/price-table.ts'
import { SseParser, type SseEvent } from '../../../providers/shared/parse-sse.ts'
import { settleDeferredReservation } from '../../core/admit-call.ts'
import type { Clock } from '../../core/clock.ts'
import { computeCost } from '../../core/compute-cost.ts'
import type { Logger } from '../../core/logger.ts'
import { settlementEvent, type UsageSink } from '../../core/usage.ts'
import type { AdmissionStore } from '../../stores/admission-store.ts'
import type { PendingUsage, ResponseScope, ResponseStore } from '../../stores/response-store.ts'
import { isJsonObject } from '../is-json-object.ts'
import { readResponsesUsage } from './responses-usage.ts'

/** The statuses a response leaves `queued` and `in_progress` for, never to change again. */
export const terminalStatuses: ReadonlySet<string> = new Set([
  'completed',
  'incomplete',
  'failed',
  'cancelled',
])

/** Whether `response` is the `Response` object of `id`, finished. */
export const isFinishedResponse = (
  response: unknown,
  id: string
): response is Record<string, unknown> & { status: string } =>
  isJsonObject(response) &&
  response.id === id &&
  typeof response.status === 'string' &&
  terminalStatuses.has(response.status)

/** The events that carry a response that finished (a stream's last). */
const terminalEvents: ReadonlySet<string> = new Set([
  'response.completed',
  'response.incomplete',
  'response.failed',
  'response.cancelled',
])

/**
 * Watches a response's event stream (a streamed retrieve replaying a background response) for its terminal event, and
 * hands the finished response it carries to `onFinished`, once. Only the terminal events are parsed; a malformed one
 * is passed over. Never throws, never delays the stream.
 */
export const watchFinishedEvent = (
  id: string,
  onFinished: (response: Record<string, unknown>) => void
): { write(chunk: Uint8Array): void; end(): void } => {
  const parser = new SseParser()
  let done = false
  const handle = (events: SseEvent[]): void => {
    for (const event of events) {
      if (done || event.event === undefined || !terminalEvents.has(event.event)) continue
      let data: unknown
      try {
        data = JSON.parse(event.data)
      } catch {
        continue
      }
      const response = isJsonObject(data) ? data.response : undefined
      if (isFinishedResponse(response, id)) {
        done = true
        onFinished(response)
      }
    }
  }
  const guarded = (read: () => SseEvent[]): void => {
    if (done) return
    try {
      handle(read())
    } catch {
      // A watcher never breaks the stream it reads.
    }
  }
  return {
    write: (chunk) => guarded(() => parser.push(chunk)),
    end: () => guarded(() => parser.end()),
  }
}

/** Why a failed response failed, as a usage event says it: its error code only, never a message from upstream. */
const failure = (response: Record<string, unknown>): string => {
  const code = isJsonObject(response.error) ? response.error.code : undefined
  return typeof code === 'string' && /^[\w.-]{1,100}$/.test(code)
    ? `background response failed: ${code}`
    : 'background response failed'
}

export type BackgroundUsageSettler = {
  /**
   * Given what the provider answered about the response (a `Response` object, parsed), settles it when it shows it
   * finished and still owes usage. Resolves with whether this call settled it; never rejects (failures are logged).
   */
  settle(id: string, scope: ResponseScope, response: unknown): Promise<boolean>
  /**
   * Settles a response whose usage can no longer be learned: its reservation is charged in full, its tokens stay
   * unknown. Resolves with whether it still owed usage; never rejects.
   */
  abandon(id: string, scope: ResponseScope, why: string): Promise<boolean>
}

export type BackgroundUsageDeps = {
  store: ResponseStore
  usage: UsageSink
  /** Where budgets are held; absent: nothing reserved anywhere. */
  admission?: AdmissionStore
  prices: PriceTable
  clock: Clock
  logger: Logger
}

export const createBackgroundUsageSettler = (deps: BackgroundUsageDeps): BackgroundUsageSettler => {
  const { store, logger } = deps
  const claim = async (id: string, scope: ResponseScope): Promise<PendingUsage | null> => {
    try {
      return await store.claimSettlement(id, scope)
    } catch (error) {
      logger.warn(
        { responseId: id, error: error instanceof Error ? error.message : String(error) },
        'background response: its settlement could not be claimed; it stays owed'
      )
      return null
    }
  }
  /** Resolves with what the budget was charged; `null` when nothing was reserved. */
  const settleReservation = async (
    pending: PendingUsage,
    costMicroUsd: number | null
  ): Promise<number | null> => {
    if (pending.reservation === null || deps.admission === undefined) return null
    return settleDeferredReservation({
      store: deps.admission,
      reservation: pending.reservation,
      costMicroUsd,
      logger,
    })
  }
  return {
    async settle(id, scope, response) {
      if (!isFinishedResponse(response, id)) return false
      const pending = await claim(id, scope)
      if (pending === null) return false
      const created = pending.event
      const usage = readResponsesUsage(response.usage)
      const costMicroUsd =
        usage === null || created.provider === null || created.model === null
          ? null
          : computeCost(usage, deps.prices.priceFor(created.provider, created.model))
      const charged = await settleReservation(pending, costMicroUsd)
      // How it ended, unless the request's own event said so already (a background stream cut short): counted once.
      // A cost that stays unknown is recorded as what the budget was charged, as `handle-chat.ts` does.
      deps.usage.record(
        settlementEvent(created, {
          usage,
          costMicroUsd: costMicroUsd ?? charged,
          estimated: costMicroUsd === null && charged !== null,
          clientAborted: response.status === 'cancelled' && !created.clientAborted,
          error: response.status === 'failed' && created.error === null ? failure(response) : null,
          latencyMs: Math.max(0, deps.clock.now() - created.startedAt),
        })
      )
      return true
    },
    async abandon(id, scope, why) {
      const pending = await claim(id, scope)
      if (pending === null) return false
      const charged = await settleReservation(pending, null)
      // The charge is recorded, so that a budget's counter seeded again from the usage store keeps it.
      if (charged !== null)
        deps.usage.record(
          settlementEvent(pending.event, {
            usage: null,
            costMicroUsd: charged,
            estimated: true,
            clientAborted: false,
            error: null,
            latencyMs: Math.max(0, deps.clock.now() - pending.event.startedAt),
          })
        )
      logger.warn(
        { responseId: id, requestId: pending.event.requestId, why },
        'background response: its usage cannot be learned; its budget reservation is charged in full'
      )
      return true
    },
  }
}
