/**
 * What a tenant key must pass before its call goes upstream, and what it settles after: the model lists, the rate
 * limits and the budgets of the key and of its tenant. The master key passes everything (`access: null`).
 *
 * - Models: the requested name, or every target the route resolves to (`provider/model`), must match a pattern of
 *   the key's list and of the tenant's (`openai/*`, `anthropic/claude-*`); otherwise 403 naming the model.
 * - Rate limits and budgets: one atomic step for the key and the tenant together (`AdmissionStore.admit`: one
 *   Redis script with Redis), which takes nothing unless everything fits, and one `settle` at the end.
 * - Rate limits: requests, tokens and concurrency, with the request's estimated tokens (its prompt, plus the output it
 *   asks for at most); settled with the real count. A refusal is a 429 with `Retry-After`; a request whose own
 *   tokens are more than the limit never passes, and its 429 has `x-should-retry: false` instead.
 * - Budgets: the worst case of the dearest target is reserved: the prompt at the model's dearest input rate, plus the
 *   output bound (`max_tokens`, else the model's maximum, else `defaultOutputBound`); settled with the real cost (the
 *   reservation itself when the real cost is unknown). A rate-limit refusal comes before a budget's. A spent budget is
 *   a 429 with OpenAI's `insufficient_quota` code and type whose message says it is a budget, with `Retry-After` the
 *   period's end (none for a total budget) and `x-should-retry: false`; a budget that reservations in flight fill is
 *   a 429 with `Retry-After: 1`. A model without a price
 *   cannot be used by a key or tenant that has a budget: 403 naming the model, since its spend could not be counted.
 *
 * Every response of a tenant key carries OpenAI's `x-ratelimit-*` headers for requests and tokens (the tightest of
 * the key's and the tenant's), which the official SDKs read: here from the admission's states, and for a call that
 * takes nothing (counting tokens) or a response that went through no admission, read as they stand
 * (`rate-limit-headers.ts`).
 */
import type { PriceTable } from '../../config/price-table.ts'
import {
  defaultHoldTtlMs,
  splitTicket,
  type AdmissionDecision,
  type AdmissionStore,
  type AdmissionTicket,
} from '../stores/admission-store.ts'
import type { BudgetPeriod } from '../stores/budget-period-bounds.ts'
import type { AccessSettings } from '../stores/tenant-store.ts'
import { admissionSubjectOf } from './admission-subject-of.ts'
import type { CallRoute } from './chat-call.ts'
import type { Target } from './model-router.ts'
import type { Clock } from './clock.ts'
import { worstCaseCost } from './compute-cost.ts'
import { GatewayError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { Principal } from './principal.ts'
import { peekRateLimitHeaders, rateLimitHeaders } from './rate-limit-headers.ts'

/** The output bound a reservation assumes when neither the request nor the model table gives one. */
export const defaultOutputBound = 4_096

export type Admission = {
  /** Headers for the response (`x-ratelimit-*`); empty for the master key. */
  headers: Record<string, string>
  /**
   * Ends the lease and settles the reservation with what the call really used; once. An unknown cost settles the
   * budget at the reservation (the worst case). Returns what the budget was charged, so that the usage record can say
   * it (`UsageEvent.estimated`) and the counter, seeded again from the usage store, keeps it; `null` when no budget
   * was reserved (none set, the master key, settled already).
   */
  settle(actual: { tokens: number | null; costMicroUsd: number | null }): number | null
  /**
   * Instead of `settle`, for a call whose cost is learned long after it ended (a background response): ends the lease
   * and settles the tokens now, and hands back the budget reservation, kept open, to be settled with the real cost
   * later (`settleDeferredReservation`; plain data, which the response store keeps meanwhile). `null` when nothing is
   * reserved (no budget, the master key, a store that did not answer). Once, as `settle`.
   */
  defer(actual: { tokens: number | null }): AdmissionTicket | null
}

/** What the master key gets: no limits, nothing to settle. Callers may use it without calling `admitCall`. */
export const unmeteredAdmission: Admission = {
  headers: {},
  settle: () => null,
  defer: () => null,
}

/**
 * Settles a reservation `Admission.defer` handed back, once the call's real cost is known (`null`: still unknown, and
 * the reservation itself is charged, as `settle` does). Resolves with what a budget was charged (`null`: the ticket
 * held no budget), as `Admission.settle` returns it. Never throws: a failure is logged.
 */
export const settleDeferredReservation = async (options: {
  store: AdmissionStore
  reservation: AdmissionTicket
  costMicroUsd: number | null
  logger: Logger
}): Promise<number | null> => {
  const { reservation } = options
  const charged = options.costMicroUsd ?? reservation.costMicroUsd
  await options.store
    .settle(reservation, { tokens: null, costMicroUsd: charged })
    .catch((error: unknown) =>
      options.logger.error({ err: error }, 'admission: settling a deferred reservation failed')
    )
  return reservation.budgets.length > 0 ? charged : null
}

/** `*` matches any run of characters; everything else is literal; case-insensitive, as model ids compare. */
const patternCache = new Map<string, RegExp>()
export const matchesModelPattern = (pattern: string, model: string): boolean => {
  let regex = patternCache.get(pattern)
  if (regex === undefined) {
    const source = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')
    regex = new RegExp(`^${source}$`, 'i')
    if (patternCache.size > 1_000) patternCache.clear()
    patternCache.set(pattern, regex)
  }
  return regex.test(model)
}

const targetName = (target: Target): string => `${target.provider.config.id}/${target.model}`

const matchesAny = (patterns: readonly string[], name: string): boolean =>
  patterns.some((pattern) => matchesModelPattern(pattern, name))

/**
 * The model's own targets decide, not the config's global fallbacks (`standIn`): those follow every model without a
 * route, so counting them would refuse `gpt-4o-mini` to an `openai/*` key while `openai/gpt-4o-mini`, the same
 * targets, passed by its name. `allowedStandIns` keeps the stand-ins a key may not use out of its calls.
 */
const allows = (settings: AccessSettings, model: string, route: CallRoute): boolean => {
  const patterns = settings.allowedModels
  if (patterns === null) return true
  return (
    matchesAny(patterns, model) ||
    route.targets.every(
      (target) => target.standIn === true || matchesAny(patterns, targetName(target))
    )
  )
}

/**
 * The route without the global fallbacks (`standIn`) that the key's or its tenant's model list does not allow: an
 * outage must not answer a tenant key from a model outside its list. The route itself when nothing is left out (the
 * master key, no list, every stand-in allowed).
 */
export const allowedStandIns = (route: CallRoute, principal: Principal): CallRoute => {
  const access = principal.access
  // Nothing to leave out (and nothing made) without a model list, as on the busy path of most keys.
  if (
    access === null ||
    (access.key.allowedModels === null && access.tenant.allowedModels === null)
  )
    return route
  const lists = [access.key.allowedModels, access.tenant.allowedModels].filter(
    (patterns): patterns is string[] => patterns !== null
  )
  if (lists.length === 0) return route
  const targets = route.targets.filter(
    (target) =>
      target.standIn !== true || lists.every((patterns) => matchesAny(patterns, targetName(target)))
  )
  return targets.length === route.targets.length ? route : { ...route, targets }
}

const modelNotAllowed = (model: string, whose: string): GatewayError =>
  new GatewayError('permission', `The model \`${model}\` is not allowed for ${whose}.`, {
    param: 'model',
    openaiCode: 'model_not_allowed',
  })

const limited = (settings: AccessSettings): boolean =>
  settings.limits.rpm !== null ||
  settings.limits.tpm !== null ||
  settings.limits.concurrency !== null

const retryAfterHeaders = (retryAfterMs: number | null): Record<string, string> =>
  retryAfterMs === null
    ? {}
    : { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1_000))) }

export type AdmitCallOptions = {
  principal: Principal
  /** The model as the client named it. */
  model: string
  route: CallRoute
  stores: { admission?: AdmissionStore }
  prices: PriceTable
  /** The prompt's estimated tokens (`estimateTokens`), asked for only when a limit or budget needs it. */
  estimateInputTokens: () => number
  /** The output bound the request sets (`max_tokens`, `max_completion_tokens`); `null` when none. */
  requestedMaxOutputTokens: number | null
  /** The model's largest output, when known (config `models`, the built-in table). */
  modelMaxOutputTokens: (model: string) => number | undefined
  /** `false` for what providers do not bill (counting tokens): only the model lists apply. */
  metered: boolean
  /**
   * How long the budget reservation may wait for its settlement (default: `AdmissionStore`'s 10 minutes). A background
   * response's is settled when it finishes (`Admission.defer`), which may be much later.
   */
  reservationTtlMs?: number
  /** For how long a spent budget stays spent (its period's end). */
  clock: Clock
  logger: Logger
}

/**
 * Checks a tenant key's call against its model lists, rate limits and budgets, and takes what it needs: the call's
 * `Admission` (its rate-limit headers, and how to settle what it took), or a refusal. Answers without a promise when
 * the admission store does (a busy key's quota block, `quota-block-admission.ts`); a refusal is always a rejected
 * promise.
 */
export const admitCall = (options: AdmitCallOptions): Admission | Promise<Admission> => {
  try {
    return admitNow(options)
  } catch (error) {
    return Promise.reject(error)
  }
}

const admitNow = (options: AdmitCallOptions): Admission | Promise<Admission> => {
  const { principal, model, route, stores } = options
  const access = principal.access
  if (access === null || principal.tenantId === null) return unmeteredAdmission
  if (!allows(access.key, model, route)) throw modelNotAllowed(model, 'this key')
  if (!allows(access.tenant, model, route)) throw modelNotAllowed(model, "this key's tenant")
  const tenantId = principal.tenantId
  if (!options.metered) {
    // Nothing to take (counting tokens), but the response shows the limits as they stand.
    const peeked = peekRateLimitHeaders({
      principal,
      store: stores.admission,
      logger: options.logger,
    })
    return peeked === null
      ? unmeteredAdmission
      : peeked.then((headers) => ({ ...unmeteredAdmission, headers }))
  }
  const hasLimits = limited(access.key) || limited(access.tenant)
  const hasBudget = access.key.budget !== null || access.tenant.budget !== null
  if (!hasLimits && !hasBudget) return unmeteredAdmission
  const admission = stores.admission
  if (admission === undefined) return unmeteredAdmission
  const inputTokens = options.estimateInputTokens()

  let worst = 0
  if (hasBudget)
    for (const target of route.targets) {
      const price = options.prices.priceFor(target.provider.config.id, target.model)
      const cost = worstCaseCost(price, {
        estimatedInputTokens: inputTokens,
        maxOutputTokens:
          options.requestedMaxOutputTokens ??
          options.modelMaxOutputTokens(target.model) ??
          defaultOutputBound,
      })
      if (cost === null)
        throw new GatewayError(
          'permission',
          `The model \`${target.provider.config.id}/${target.model}\` has no known price, and this key has a budget: add it to the gateway's \`prices\`.`,
          { param: 'model', openaiCode: 'model_not_priced' }
        )
      worst = Math.max(worst, cost)
    }

  // The slot and the reservation outlive the call (its total timeout bounds it, streamed body included): held for
  // less, a long call would free them while it still runs, and the key could exceed its concurrency and budget.
  const holdTtlMs = holdTtlFor(route)
  const decided = admission.admit({
    tenant: admissionSubjectOf(tenantId, access.tenant),
    key: admissionSubjectOf(principal.id, access.key),
    tokens: inputTokens + (options.requestedMaxOutputTokens ?? 0),
    costMicroUsd: worst,
    leaseTtlMs: holdTtlMs,
    reservationTtlMs: Math.max(holdTtlMs, options.reservationTtlMs ?? 0),
    splittable: options.reservationTtlMs !== undefined,
  })
  if (decided instanceof Promise)
    return decided.then((decision) => admissionOf(decision, options, admission, worst, inputTokens))
  return admissionOf(decided, options, admission, worst, inputTokens)
}

/** The call's `Admission` from the store's decision, or the refusal it says (thrown). */
const admissionOf = (
  decision: AdmissionDecision,
  options: AdmitCallOptions,
  admission: AdmissionStore,
  worst: number,
  inputTokens: number
): Admission => {
  const headers = rateLimitHeaders(decision.rateLimits)
  if (!decision.allowed) {
    const { refusal } = decision
    const whose = refusal.scope === 'key' ? 'this key' : "this key's tenant"
    if (refusal.kind === 'rate-limit' && refusal.retryAfterMs === null) {
      // The request alone is more than the limit holds: no wait lets it through, so the SDKs are told not to retry
      // (`x-should-retry: false`, no `Retry-After`) and the client what to change.
      const requested = inputTokens + (options.requestedMaxOutputTokens ?? 0)
      throw new GatewayError(
        'rate_limited',
        refusal.dimension === 'tokens'
          ? `This request needs about ${requested} tokens, more than the ${refusal.limit} tokens per minute of ${whose} allow: lower \`max_tokens\` or shorten the prompt.`
          : `This request can never pass the rate limit of ${whose} (${refusal.limit} ${refusal.dimension === 'requests' ? 'requests per minute' : 'concurrent requests'}).`,
        {
          openaiCode: 'rate_limit_exceeded',
          headers: { ...headers, 'x-should-retry': 'false' },
        }
      )
    }
    if (refusal.kind === 'rate-limit') {
      const what =
        refusal.dimension === 'requests'
          ? `${refusal.limit} requests per minute`
          : refusal.dimension === 'tokens'
            ? `${refusal.limit} tokens per minute`
            : `${refusal.limit} concurrent requests`
      throw new GatewayError('rate_limited', `Rate limit reached for ${whose}: ${what}.`, {
        openaiCode: 'rate_limit_exceeded',
        retryAfterMs: refusal.retryAfterMs,
        headers: { ...headers, ...retryAfterHeaders(refusal.retryAfterMs) },
      })
    }
    // Cents, or as many decimals as a smaller amount needs: `$50.00`, `$0.0001`, `$1.234567`.
    const usd = (microUsd: number): string =>
      `$${(microUsd / 1_000_000).toFixed(6).replace(/0{1,4}$/, '')}`
    const resets =
      refusal.periodEnd === null
        ? ''
        : ` It renews at ${new Date(refusal.periodEnd).toISOString()}.`
    // Not spent, but this request's worst case is more than the spend leaves, in flight or not: no wait before the
    // period ends lets it through (none at all when it is more than the whole budget).
    const tooDear =
      !refusal.spent && refusal.spentMicroUsd + Math.max(1, worst) > refusal.limitMicroUsd
    const message = refusal.spent
      ? `The ${budgetAdjective[refusal.period]}budget of ${whose} is spent (${usd(refusal.spentMicroUsd)} of ${usd(refusal.limitMicroUsd)}).${resets}`
      : tooDear
        ? `This request's worst-case cost (${usd(worst)}) is more than is left of the ${budgetAdjective[refusal.period]}budget of ${whose} (${usd(refusal.limitMicroUsd - refusal.spentMicroUsd)} of ${usd(refusal.limitMicroUsd)}).${worst <= refusal.limitMicroUsd ? resets : ''} Set a lower \`max_tokens\` (without one, the model's largest output is reserved).`
        : `The budget of ${whose} cannot cover this request's worst-case cost while other requests are in flight (${usd(refusal.remainingMicroUsd)} left of ${usd(refusal.limitMicroUsd)}).`
    // Spent, or too dear for what is left: nothing changes before the period ends (never, for a total budget or a
    // request dearer than the whole budget), so the SDKs are told not to retry (`x-should-retry: false`) and when the
    // next period starts. Filled by reservations in flight: they settle soon.
    const final = refusal.spent || tooDear
    const retryAfterMs = !final
      ? 1_000
      : refusal.periodEnd === null || worst > refusal.limitMicroUsd
        ? null
        : Math.max(1_000, refusal.periodEnd - options.clock.now())
    throw new GatewayError('rate_limited', message, {
      openaiCode: 'insufficient_quota',
      openaiType: 'insufficient_quota',
      retryAfterMs,
      headers: {
        ...headers,
        ...retryAfterHeaders(retryAfterMs),
        ...(final ? { 'x-should-retry': 'false' } : {}),
      },
    })
  }

  const ticket = decision.ticket
  let settled = false
  const fail = (error: unknown): void =>
    options.logger.error({ err: error }, 'admission: settle failed')
  return {
    headers,
    settle: (actual) => {
      if (settled) return null
      settled = true
      const charged = actual.costMicroUsd ?? ticket.costMicroUsd
      admission.settle(ticket, { tokens: actual.tokens, costMicroUsd: charged }).catch(fail)
      return ticket.budgets.length > 0 ? charged : null
    },
    defer: (actual) => {
      if (settled) return null
      settled = true
      const { now, later } = splitTicket(ticket)
      admission.settle(now, { tokens: actual.tokens, costMicroUsd: 0 }).catch(fail)
      return later
    },
  }
}

/** How long past a call's total timeout its slot and reservation are held, for the settle to arrive. */
export const holdMarginMs = 60_000

/**
 * How long a call's concurrency slot and budget reservation are held at most: past the longest its route lets a call
 * run (the first target's total timeout, which the executor's deadline uses), and never less than the stores' default.
 */
export const holdTtlFor = (route: CallRoute): number =>
  Math.max(defaultHoldTtlMs, (route.targets[0]?.timeouts?.totalMs ?? 0) + holdMarginMs)

const budgetAdjective: Record<BudgetPeriod, string> = {
  day: 'daily ',
  week: 'weekly ',
  month: 'monthly ',
  total: '',
}
