/**
 * What a tenant key's request takes before its call and gives back after, for the key and its tenant together: the
 * rate limits (`rate-limits.ts`: requests and tokens per minute, concurrent requests) and the budgets (`budgets.ts`:
 * micro-USD per UTC day, week, month or in total). One `admit` checks every limit and budget of both and takes all of
 * them or none; one `settle` ends what it took, with the real tokens and cost; `peek` reads the requests and tokens
 * limits without taking anything (test/contract/admission-store-peek.test.ts). Memory
 * (`memory/memory-admission-store.ts`) serves one process; Redis (`redis/redis-admission-store.ts`) serves N, with one
 * script each way (and a read-only one to peek).
 *
 * Semantics, the same in every backend (test/contract/admission-store.test.ts holds them to it): those of
 * `rate-limits.ts` and `budgets.ts`, and
 * - nothing is taken unless everything fits, so a request refused by one limit or budget consumes no other's quota;
 * - a refusal names a rate limit when one refuses (the one that frees last, `pickRateLimitRefusal`), else a budget
 *   (a spent one first, `pickBudgetRefusal`);
 * - when the shared store does not answer, `admit` allows with a `degraded` ticket (fail-open) or throws
 *   `GatewayError('unavailable')` (fail-closed), within a bounded time; `settle` never throws for it, and `peek`
 *   answers `null` for it in either mode.
 */
import { GatewayError } from '../core/errors.ts'
import { budgetStatesOf, pickBudgetRefusal, type BudgetCheck } from './budget-check.ts'
import { checkBudget, type Budget, type BudgetRefusal, type BudgetState } from './budgets.ts'
import { pickRateLimitRefusal, rateLimitStatesOf, type RateLimitCheck } from './rate-limit-check.ts'
import {
  checkRateLimits,
  isCount,
  type LimitScope,
  type RateLimitRefusal,
  type RateLimits,
  type RateLimitState,
} from './rate-limits.ts'

/** The tenant or the key: its id, its limits (none: `{}`) and its budget (none: `null`). */
export type AdmissionSubject = { id: string; limits: RateLimits; budget: Budget | null }

export type AdmissionRequest = {
  tenant: AdmissionSubject
  key: AdmissionSubject
  /** The request's estimated tokens (prompt plus the output it may produce), an integer >= 0. */
  tokens: number
  /** The request's worst-case cost, integer micro-USD >= 0. */
  costMicroUsd: number
  /** How long the concurrency slot is held at most; 10 min when absent. */
  leaseTtlMs?: number
  /** How long the budget reservation is held at most; 10 min when absent. */
  reservationTtlMs?: number
  /**
   * `true` when the ticket may be split (`splitTicket`) and its parts settled elsewhere, later (a background
   * response): such a request is always admitted alone, never from a quota block (`quota-block-admission.ts`).
   */
  splittable?: boolean
}

/** A budget counter the request reserved in: the period it was in then, where settling adds the real cost. */
export type AdmissionBudgetEntry = {
  scope: LimitScope
  periodKey: string
  /** Epoch ms; `null` for `total`. */
  periodEnd: number | null
}

/**
 * What `admit` took, handed back to `settle` as is. Plain data: it names what the request holds, so `settle` touches
 * only that.
 */
export type AdmissionTicket = {
  id: string
  tenantId: string
  keyId: string
  /** The token estimate taken. */
  tokens: number
  /** The cost reserved. */
  costMicroUsd: number
  /** When the rate-limit entries were stamped, on the store's rate-limit clock (0: none). */
  at: number
  /** The scopes whose token window holds this request's estimate. */
  tokenScopes: readonly LimitScope[]
  /** The scopes whose concurrency slots this request holds. */
  concurrentScopes: readonly LimitScope[]
  budgets: readonly AdmissionBudgetEntry[]
  /** `true` when the shared store did not answer and the gateway fails open: nothing was taken. */
  degraded: boolean
}

export type AdmissionRefusal =
  ({ kind: 'rate-limit' } & RateLimitRefusal) | ({ kind: 'budget' } & BudgetRefusal)

export type AdmissionDecision =
  | {
      allowed: true
      ticket: AdmissionTicket
      /** Every limit, counting this request. */
      rateLimits: RateLimitState[]
      /** Every budget, counting this request's reservation. */
      budgets: BudgetState[]
    }
  | {
      allowed: false
      refusal: AdmissionRefusal
      /** As they stand: nothing was taken. */
      rateLimits: RateLimitState[]
      budgets: BudgetState[]
    }

/** What the request really used. `tokens: null`: the provider did not say, and the estimate stands. */
export type AdmissionUsage = { tokens: number | null; costMicroUsd: number }

/** Whose requests and tokens limits `peek` reads: the tenant and the key (their budgets are not read). */
export type PeekRequest = { tenant: AdmissionSubject; key: AdmissionSubject }

export interface AdmissionStore {
  /**
   * Checks every rate limit and budget of the tenant and the key and takes them all (one request, `tokens` tokens,
   * one concurrency slot, `costMicroUsd` reserved), or takes nothing. Atomic across processes. A failing
   * `SpentLoader` (seeding a budget's counter) rejects the call. May answer without a promise when it needs to ask
   * nothing (a quota block's share, `quota-block-admission.ts`): most of a busy key's requests cost no asynchronous
   * step then.
   */
  admit(request: AdmissionRequest): AdmissionDecision | Promise<AdmissionDecision>
  /**
   * Frees the request's concurrency slots, settles its tokens to `tokens` and its reservation to `costMicroUsd`
   * (added to the spend of the period it was reserved in). A second settle of the same ticket does nothing.
   */
  settle(ticket: AdmissionTicket, usage: AdmissionUsage): Promise<void>
  /**
   * The requests and tokens limits of the tenant and the key as they stand now, taking nothing and changing nothing
   * (no entry, no lease, no key's TTL): the `x-ratelimit-*` headers of a response that went through no admission (a
   * refusal before it, a model list, a usage read). States as a refused `admit` reports them (`remaining`: what is
   * left now; `resetMs`: until the newest entry leaves the window, 0 when none), none for a subject without such
   * limits; no concurrency limits, no budgets. `null` when the shared store does not answer, within the same bound as
   * `admit`, in either failure mode: a response goes without the headers rather than wait or fail for them.
   */
  peek(request: PeekRequest): Promise<RateLimitState[] | null>
}

/** What a block (`BlockAdmission`) holds in the store: requests, tokens in the window, budget reserved. */
export type BlockBooking = { count: number; tokens: number; reservedMicroUsd: number }

/** A block as `admitBlock` took it: what `rebook` needs to find it again. */
export type AdmittedBlock = {
  request: AdmissionRequest
  ticket: AdmissionTicket
  /** When its budget reservations expire, on the budgets' clock. */
  reservationEndsAt: number
}

/**
 * What a shared store offers so that a process can take quota in blocks instead of one request at a time
 * (`leasing-admission-store.ts`): `count` requests, `request.tokens` tokens and `request.costMicroUsd` reserved, in
 * one atomic step with the same checks as `admit`, their log entry stamped `stampOffsetMs` late (when the block's
 * last request may be admitted, so the window counts each of them at least as long as it should); and `rebook`,
 * which changes what the block holds (`from` as booked, `to` what it holds now) and adds `spentMicroUsd` to the
 * spend. Never with concurrency limits: a slot is held per request.
 */
export interface BlockAdmission {
  admitBlock(
    request: AdmissionRequest,
    count: number,
    stampOffsetMs: number
  ): Promise<{ decision: AdmissionDecision; reservationEndsAt: number }>
  rebook(
    block: AdmittedBlock,
    from: BlockBooking,
    to: BlockBooking,
    spentMicroUsd: number
  ): Promise<void>
}

/**
 * A ticket in two parts, for a call whose cost is learned long after it ended (a background response, which runs on
 * after its request answered): `now` holds what the request took as a request (its concurrency slots and token
 * estimate: settled when it ends), `later` its budget reservations, settled with the real cost once it is known (plain
 * data, kept meanwhile where another process can find it; `null` when nothing is reserved). Settling both, each once,
 * does what one settle of the ticket does; the reservation then needs a TTL long enough to wait
 * (`AdmissionRequest.reservationTtlMs`), else it frees itself and the real cost, settled later, is added alone.
 */
export const splitTicket = (
  ticket: AdmissionTicket
): { now: AdmissionTicket; later: AdmissionTicket | null } => ({
  now: { ...ticket, budgets: [] },
  later:
    ticket.degraded || ticket.budgets.length === 0
      ? null
      : { ...ticket, tokenScopes: [], concurrentScopes: [] },
})

/**
 * A concurrency lease's or a budget reservation's TTL when the request names none: above the longest request (580 s
 * total timeout).
 */
export const defaultHoldTtlMs = 600_000

/** Whether the subject has a rate limit or a budget: without either, there is nothing to take for it. */
export const isMetered = (subject: AdmissionSubject): boolean =>
  subject.budget !== null ||
  (subject.limits.requestsPerMinute ?? null) !== null ||
  (subject.limits.tokensPerMinute ?? null) !== null ||
  (subject.limits.concurrentRequests ?? null) !== null

/**
 * Throws on what no caller should send (a negative, fractional or non-numeric limit, budget, amount or TTL): the admin
 * API validates limits where they are set, so reaching here with one is a bug, not a client's mistake.
 */
export const validateAdmissionRequest = (request: AdmissionRequest): void => {
  const problems: string[] = []
  for (const scope of ['tenant', 'key'] as const) {
    checkRateLimits(scope, request[scope].limits, problems)
    checkBudget(scope, request[scope].budget, problems)
  }
  if (!isCount(request.tokens)) problems.push(`tokens = ${String(request.tokens)}`)
  if (!isCount(request.costMicroUsd))
    problems.push(`costMicroUsd = ${String(request.costMicroUsd)}`)
  for (const name of ['leaseTtlMs', 'reservationTtlMs'] as const) {
    const value = request[name]
    if (value !== undefined && !(isCount(value) && value > 0))
      problems.push(`${name} = ${String(value)}`)
  }
  if (problems.length > 0)
    throw new GatewayError(
      'internal',
      `Admission request out of range (integers >= 0 expected): ${problems.join(', ')}`
    )
}

/** Throws on a limit no caller should send, as `validateAdmissionRequest` does. */
export const validatePeekRequest = (request: PeekRequest): void => {
  const problems: string[] = []
  for (const scope of ['tenant', 'key'] as const)
    checkRateLimits(scope, request[scope].limits, problems)
  if (problems.length > 0)
    throw new GatewayError(
      'internal',
      `Rate-limit peek out of range (integers >= 0 expected): ${problems.join(', ')}`
    )
}

/** Throws unless the tokens are `null` or an integer >= 0 and the cost an integer >= 0. */
export const validateAdmissionUsage = (usage: AdmissionUsage): void => {
  if (usage.tokens !== null && !isCount(usage.tokens))
    throw new GatewayError(
      'internal',
      `tokens must be an integer >= 0 or null, got ${String(usage.tokens)}`
    )
  if (!isCount(usage.costMicroUsd))
    throw new GatewayError(
      'internal',
      `costMicroUsd must be an integer >= 0, got ${String(usage.costMicroUsd)}`
    )
}

const ticketOf = (
  id: string,
  request: AdmissionRequest,
  at: number,
  rateLimits: readonly RateLimitCheck[],
  budgets: readonly BudgetCheck[],
  degraded: boolean
): AdmissionTicket => {
  const tokenScopes: LimitScope[] = []
  const concurrentScopes: LimitScope[] = []
  for (const check of rateLimits)
    if (check.dimension === 'tokens') tokenScopes.push(check.scope)
    else if (check.dimension === 'concurrent') concurrentScopes.push(check.scope)
  return {
    id,
    tenantId: request.tenant.id,
    keyId: request.key.id,
    tokens: request.tokens,
    costMicroUsd: request.costMicroUsd,
    at,
    tokenScopes,
    concurrentScopes,
    budgets: budgets.map((check) => ({
      scope: check.scope,
      periodKey: check.bounds.key,
      periodEnd: check.bounds.end,
    })),
    degraded,
  }
}

/**
 * The answer from the checks a store made before taking anything: a refusal (a rate limit before a budget), or the
 * admission with the states counting this request. Shared by the backends, so the Redis script decides only what
 * must be atomic (whether everything fits) and the reporting is written once.
 */
export const admissionDecisionOf = (
  id: string,
  request: AdmissionRequest,
  at: number,
  rateLimits: readonly RateLimitCheck[],
  budgets: readonly BudgetCheck[]
): AdmissionDecision => {
  const rateRefusal = pickRateLimitRefusal(rateLimits)
  const budgetRefusal = rateRefusal === null ? pickBudgetRefusal(budgets) : null
  if (rateRefusal !== null || budgetRefusal !== null)
    return {
      allowed: false,
      refusal:
        rateRefusal !== null
          ? { kind: 'rate-limit', ...rateRefusal }
          : { kind: 'budget', ...(budgetRefusal as BudgetRefusal) },
      rateLimits: rateLimitStatesOf(rateLimits, false),
      budgets: budgetStatesOf(budgets, false),
    }
  return {
    allowed: true,
    ticket: ticketOf(id, request, at, rateLimits, budgets, false),
    rateLimits: rateLimitStatesOf(rateLimits, true),
    budgets: budgetStatesOf(budgets, true),
  }
}

/** The fail-open answer when the shared store does not answer: admitted, with nothing taken and no states. */
export const degradedAdmission = (id: string, request: AdmissionRequest): AdmissionDecision => ({
  allowed: true,
  ticket: ticketOf(id, request, 0, [], [], true),
  rateLimits: [],
  budgets: [],
})

/**
 * Ids for tickets, unique across processes: a random tag per store and a counter (shorter and cheaper than a UUID,
 * and they end up in every log entry and reservation).
 */
export const createTicketIds = (): (() => string) => {
  const tag = crypto.randomUUID().replaceAll('-', '').slice(0, 12)
  let next = 0
  return () => `${tag}${(next++).toString(36)}`
}
