/**
 * The shared body of the chat-shaped routes (OpenAI chat completions, Anthropic messages and count_tokens): build the
 * executor call, run it, respond in the client's dialect, record usage when the body ends.
 */
import type { Context } from 'hono'
import type { ChatRequest, Usage } from '../../providers/spec/chat-types.ts'
import type { EmbedRequest } from '../../providers/spec/embedding-types.ts'
import { isGenerative, type Operation } from '../../providers/spec/operation.ts'
import type { Deps } from '../deps.ts'
import type { CacheSession, PromptCache } from '../core/cache/prompt-cache.ts'
import type { CallRoute, ServedBy } from '../core/chat-call.ts'
import { resumeAfterLeader } from '../core/cache/resume-follower.ts'
import { GatewayError } from '../core/errors.ts'
import type { Executor } from '../core/execute.ts'
import { settlementEvent, type UsageEvent } from '../core/usage.ts'
import {
  admitCall,
  allowedStandIns,
  settleDeferredReservation,
  unmeteredAdmission,
  type Admission,
} from '../core/admit-call.ts'
import { computeCost } from '../core/compute-cost.ts'
import { preferShortTarget } from '../core/short-requests.ts'
import {
  estimateChatBodyTokens,
  estimateTextTokens,
  estimateTokens,
} from '../core/estimate-tokens.ts'
import { readUsageLabels } from './read-usage-labels.ts'
import { composeRewrites, createEchoRewrite, echoIntoBody } from './echo-forwarded.ts'
import type { GatewayEnv } from '../middleware/gateway-env.ts'
import type { DialectCodec } from './dialect-codec.ts'
import { answerOfOutcome, respondChat, type RespondOptions } from './respond-chat.ts'
import { respondFromCache } from './respond-from-cache.ts'
import { takeRequestIdHeaders } from '../middleware/request-context.ts'
import type { PendingUsage } from '../stores/response-store.ts'

/** Client headers that may reach an upstream (lower-case). Credentials never do: the adapter sets the provider's. */
const forwardedClientHeaders = ['anthropic-version', 'anthropic-beta'] as const

export type ChatHandlerOptions = {
  deps: Deps
  executor: Executor
  codec: DialectCodec
  operation: Operation
  /** A rewrite of the non-streamed answer this body asks for (float embeddings → base64). */
  transformFor?: (body: Record<string, unknown>) => ((bytes: Uint8Array) => Uint8Array) | undefined
  /**
   * Runs before the call, with the validated body: may answer with another body (the Responses API expands what a
   * stored response stands for) and a keeper of the finished converted answer. Its errors reach the client.
   */
  prepare?: (c: Context<GatewayEnv>, body: Record<string, unknown>) => Promise<PreparedCall>
  /** The prompt cache, where the route's operation is cached and some route has it on; else `null`. */
  promptCache?: PromptCache | null
}

/** What `prepare` gives the call: its body, and keepers of what it produced. */
export type PreparedCall = {
  body: Record<string, unknown>
  /** A finished converted answer, in the protocol's shape; the answer's end waits for what it returns. */
  keep?: (answer: Record<string, unknown>) => void | Promise<unknown>
  /**
   * Records what a forwarded answer said the upstream stored (its ids), with the provider that stores it and, for a
   * response the upstream runs on (background), the usage it still owes; resolves with whether it was recorded.
   * Awaited before the answer's end goes on.
   */
  keepForwarded?: (
    stored: Parameters<NonNullable<RespondOptions['keepForwarded']>>[0],
    provider: string,
    pending?: PendingUsage
  ) => Promise<boolean>
  /** Narrows the route to the targets that can serve the call (a chain, to the provider that stores it). */
  pin?: (route: CallRoute) => CallRoute
  /** Fields of the client's request the new body dropped, which a converted answer still echoes. */
  echo?: Record<string, unknown>
}

/** What one request brings to `handleChat`, beside the route's fixed options. */
type ChatRequestParts = {
  c: Context<GatewayEnv>
  body: Record<string, unknown>
  /** `body` as the client's text, when `body` is the client's body (`ChatCall.bodyText`). */
  bodyText: string | undefined
  model: string
  stream: boolean
  transformBody?: (bytes: Uint8Array) => Uint8Array
  keep?: PreparedCall['keep']
  keepForwarded?: PreparedCall['keepForwarded']
  echo?: PreparedCall['echo']
  pin?: PreparedCall['pin']
}

/** Usage as reported, or completed with the gateway's estimate (`estimated`). */
type CountedUsage = { usage: Usage | null; estimated: boolean }

/**
 * The usage a response's end reports, completed where the upstream's did not arrive: a stream cut short (the client
 * left, the upstream broke off) or from a server that reports none, whose taps counted the output that passed
 * (`StreamEnd.outputTokensSeen`). What the upstream did report stays (Anthropic's `message_start` input and cache
 * counts); the input is otherwise the estimate admission made (a tenant key with limits or a budget), else unknown;
 * the output is what passed, and caching none (the dearer reading). The provider bills what it generated, which the
 * client may not all have received: the estimate can fall short by what was in flight. Nothing counted (a whole body,
 * a stream that never started): as reported.
 */
const completeUsage = (
  reported: Usage | null,
  outputTokensSeen: number | null,
  inputEstimate: number | null
): CountedUsage => {
  if (reported !== null && reported.inputTokens !== null && reported.outputTokens !== null)
    return { usage: reported, estimated: false }
  if (outputTokensSeen === null) return { usage: reported, estimated: false }
  const usage: Usage = {
    inputTokens: reported?.inputTokens ?? inputEstimate,
    outputTokens: reported?.outputTokens ?? outputTokensSeen,
    cachedInputTokens: reported?.cachedInputTokens ?? 0,
    cacheWriteInputTokens: reported?.cacheWriteInputTokens ?? 0,
    reasoningTokens: reported?.reasoningTokens ?? null,
  }
  if (reported?.cacheWrite1hInputTokens != null)
    usage.cacheWrite1hInputTokens = reported.cacheWrite1hInputTokens
  return { usage, estimated: true }
}

/**
 * Settles the call's admission with its cost, and says what to record: the cost at the configured price, or, when it
 * cannot be known and a budget was reserved, what the budget was charged (the reservation, `Admission.settle`),
 * marked estimated. Recording the charge keeps the budget's counter and the usage store in step: a counter seeded
 * again (a restart, Redis losing it) sums the usage store's costs, and `GET /v1/usage` shows what the tenant was
 * charged.
 */
const settleCharge = (
  settle: Admission['settle'],
  counted: CountedUsage,
  price: Parameters<typeof computeCost>[1]
): { usage: Usage | null; costMicroUsd: number | null; estimated: boolean } => {
  const { usage } = counted
  const cost = usage === null ? null : computeCost(usage, price)
  const charged = settle({
    tokens:
      usage?.inputTokens == null || usage.outputTokens == null
        ? null
        : usage.inputTokens + usage.outputTokens,
    costMicroUsd: cost,
  })
  if (cost === null && charged !== null) return { usage, costMicroUsd: charged, estimated: true }
  return { usage, costMicroUsd: cost, estimated: counted.estimated }
}

/**
 * What a call's response reports when its body ends: the usage event, the tenant's settlement, the cache's share of
 * the answer, and for a response the upstream runs on (background) what it still owes, which `keepRunning` records.
 */
const createResponseEnd = (options: {
  deps: Deps
  cache: CacheSession | null
  cacheStatus: UsageEvent['cache']
  usageBase: UsageBase
  routeName: string | null
  startedAt: number
  admission: Admission
  keepForwarded: PreparedCall['keepForwarded']
  /**
   * The request's input tokens as admission estimated them, for a stream whose usage did not arrive (`completeUsage`);
   * `null` when nothing estimated them. Not estimated here: that would keep the body for the stream's life.
   */
  inputEstimate: number | null
}): {
  onEnd: RespondOptions['onEnd']
  keepRunning: RespondOptions['keepForwarded']
} => {
  const { deps, cache, cacheStatus, usageBase, routeName, startedAt, admission } = options
  const { settle, defer: deferSettlement } = admission
  const keepForwarded = options.keepForwarded
  /** What a background response still owes, once its create's body has ended (`onEnd`), for its record. */
  let pending: PendingUsage | undefined
  /** Records it with what it owes; a record that could not be written charges the reservation in full at once. */
  const keepRunning =
    keepForwarded === undefined
      ? undefined
      : (
          stored: Parameters<NonNullable<RespondOptions['keepForwarded']>>[0],
          provider: string
        ): Promise<boolean> => {
          const owed = pending
          return keepForwarded(stored, provider, owed).then((written) => {
            const { admission: store } = deps.stores
            if (!written && owed?.reservation != null && store !== undefined)
              // Charged in full, and recorded as charged: a budget's counter seeded again keeps it.
              void settleDeferredReservation({
                store,
                reservation: owed.reservation,
                costMicroUsd: null,
                logger: deps.logger,
              }).then((charged) => {
                if (charged !== null)
                  deps.usage.record(
                    settlementEvent(owed.event, {
                      usage: null,
                      costMicroUsd: charged,
                      estimated: true,
                      clientAborted: false,
                      error: null,
                      latencyMs: Math.max(0, deps.clock.now() - owed.event.startedAt),
                    })
                  )
              })
            return written
          })
        }
  const onEnd: RespondOptions['onEnd'] = (end, servedBy) => {
    cache?.finish(end, servedBy)
    if (end.running != null && keepRunning !== undefined) {
      // Runs on upstream (background): its tokens and cost come later (`background-usage.ts`). This event says what
      // is known now; the reservation stays held, and both go into the response's record.
      const event = usageEvent(usageBase, {
        route: routeName,
        provider: servedBy.provider,
        model: end.model ?? servedBy.model,
        status: end.status,
        usage: null,
        attempts: servedBy.attempts,
        latencyMs: deps.clock.now() - startedAt,
        ttfbMs: servedBy.firstByteAt - startedAt,
        costMicroUsd: null,
        clientAborted: end.error?.status === 499,
        error: end.error?.message ?? null,
        cache: cacheStatus,
        savedCostMicroUsd: null,
      })
      pending = { event, reservation: deferSettlement({ tokens: null }) }
      deps.usage.record(event)
      // A whole body said what is stored: its record is written next (`keepForwarded`). A background stream cut
      // short before its terminal event said nothing: written here, after the client has gone.
      if (end.stored == null)
        deps.defer(keepRunning({ id: end.running.id, itemIds: [] }, servedBy.provider))
      return
    }
    const servedModel = end.model ?? servedBy.model
    const usage = completeUsage(end.usage, end.outputTokensSeen ?? null, options.inputEstimate)
    const charge = settleCharge(
      settle,
      usage,
      deps.config.prices.priceFor(servedBy.provider, servedModel)
    )
    deps.usage.record(
      usageEvent(usageBase, {
        route: routeName,
        provider: servedBy.provider,
        model: servedModel,
        status: end.status,
        usage: charge.usage,
        attempts: servedBy.attempts,
        latencyMs: deps.clock.now() - startedAt,
        ttfbMs: servedBy.firstByteAt - startedAt,
        costMicroUsd: charge.costMicroUsd,
        clientAborted: end.error?.status === 499,
        error: end.error?.message ?? null,
        cache: cacheStatus,
        savedCostMicroUsd: null,
        estimated: charge.estimated,
      })
    )
  }
  return { onEnd, keepRunning }
}

/**
 * The handler of a chat-shaped route, run after zod validated the body. It takes the body as zod returned it: the
 * request schemas are loose at every level and add nothing, so that is the client's JSON with every unknown field,
 * only with the schema's keys first. Reading the client's JSON again would parse the body a second time, which for
 * a long conversation costs more than everything else the gateway does with it.
 */
export const createChatHandler = (options: ChatHandlerOptions) => {
  const generative = isGenerative(options.operation)
  const handle = (
    c: Context<GatewayEnv>,
    valid: Record<string, unknown>,
    prepared: PreparedCall | null
  ): Promise<Response> => {
    const body = prepared === null ? valid : prepared.body
    return handleChat(options, {
      c,
      body,
      // `prepare` hands back the body it was given when it changed nothing (Codex CLI's `store: false` requests).
      bodyText: prepared === null || prepared.body === valid ? c.get('jsonText') : undefined,
      model: body.model as string,
      stream: generative && body.stream === true,
      transformBody: options.transformFor?.(body),
      keep: prepared?.keep,
      keepForwarded: prepared?.keepForwarded,
      echo: prepared?.echo,
      pin: prepared?.pin,
    })
  }
  // Not an async function: most routes prepare nothing, and their request then costs no promise of its own here.
  return (c: Context<GatewayEnv>): Promise<Response> => {
    const valid = c.req.valid('json' as never) as Record<string, unknown>
    if (options.prepare === undefined) return handle(c, valid, null)
    return options.prepare(c, valid).then((prepared) => handle(c, valid, prepared))
  }
}

/** The fields of a usage event known when the request arrives. */
type UsageBase = Pick<
  UsageEvent,
  | 'requestId'
  | 'principalId'
  | 'tenantId'
  | 'keyId'
  | 'userId'
  | 'tags'
  | 'dialect'
  | 'operation'
  | 'requestedModel'
  | 'stream'
  | 'startedAt'
>

/**
 * A whole usage event, written out field by field. Not `{ ...base, provider, ... }`: on Node 20 every property added
 * after a spread gives the object a hidden class of its own, about 1 µs each, 14 µs for this event.
 */
const usageEvent = (
  base: UsageBase,
  rest: Omit<UsageEvent, keyof UsageBase | 'refused'>
): UsageEvent => ({
  requestId: base.requestId,
  principalId: base.principalId,
  tenantId: base.tenantId,
  keyId: base.keyId,
  userId: base.userId,
  tags: base.tags,
  dialect: base.dialect,
  operation: base.operation,
  requestedModel: base.requestedModel,
  route: rest.route,
  provider: rest.provider,
  model: rest.model,
  stream: base.stream,
  status: rest.status,
  refused: false,
  usage: rest.usage,
  attempts: rest.attempts,
  startedAt: base.startedAt,
  latencyMs: rest.latencyMs,
  ttfbMs: rest.ttfbMs,
  costMicroUsd: rest.costMicroUsd,
  clientAborted: rest.clientAborted,
  error: rest.error,
  cache: rest.cache,
  savedCostMicroUsd: rest.savedCostMicroUsd,
  estimated: rest.estimated === true,
})

/** The body of a streamed request, asking for the answer whole (and without the options only a stream may have). */
const unstreamed = (body: Record<string, unknown>): Record<string, unknown> => {
  const { stream: _stream, stream_options: _options, ...rest } = body
  return { ...rest, stream: false }
}

/** A cut call's usage (`GatewayError.cutAttempt`): its estimated input, nothing cached, no output counted. */
const cutUsage = (inputTokens: number | null): Usage => ({
  inputTokens,
  outputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteInputTokens: 0,
  reasoningTokens: null,
})

/** The request's input estimate, or `null` if the estimate itself fails: an error path must not throw another. */
const estimateInputSafely = (estimate: () => number): number | null => {
  try {
    return estimate()
  } catch {
    return null
  }
}

/** A cache hit's tokens: none went upstream. */
const noTokens = (): Usage => ({
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteInputTokens: 0,
  reasoningTokens: 0,
})

/**
 * How much longer than the poller's bound a background response's budget reservation is held: the poller settles it
 * (or gives up, charging it) before then, unless every instance is down.
 */
const backgroundReservationMarginMs = 10 * 60_000

/** The request's input tokens, estimated (for admission and a route's short requests; a stream's usage reuses it). */
const estimateInputTokens = (
  operation: Operation,
  body: Record<string, unknown>,
  toCanonical: () => ChatRequest
): number =>
  operation === 'embeddings'
    ? estimateTextTokens(JSON.stringify(body.input ?? ''))
    : operation === 'responses'
      ? // Read as text: a forwarded Responses request may chain to stored input the canonical form lacks.
        estimateTextTokens(
          JSON.stringify([body.instructions ?? '', body.input ?? '', body.tools ?? ''])
        )
      : estimateChatTokens(body, toCanonical)

/**
 * A chat's estimate from its canonical form, or, when the body has what the canonical form cannot hold (which a
 * conversion would refuse, and a passthrough forwards), from the body itself: a tenant key's limits must not refuse
 * what the master key's call sends on.
 */
const estimateChatTokens = (
  body: Record<string, unknown>,
  toCanonical: () => ChatRequest
): number => {
  let canonical: ChatRequest
  try {
    canonical = toCanonical()
  } catch (error) {
    // The conversion's refusal (a 400 naming the field); anything else is a fault of the gateway's.
    if (!(error instanceof GatewayError)) throw error
    return estimateChatBodyTokens(body)
  }
  return estimateTokens(canonical)
}

/** The query string of `url`, `?` included; `undefined` when there is none. */
const queryOf = (url: string): string | undefined => {
  const at = url.indexOf('?')
  return at === -1 || at === url.length - 1 ? undefined : url.slice(at)
}

/** The names of a request's output bound, in the dialects' order of precedence. */
const maxOutputTokenFields = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const

/** The output bound the request sets, whichever dialect's name it uses; `null` when none. */
const requestedMaxOutputTokens = (body: Record<string, unknown>): number | null => {
  for (const name of maxOutputTokenFields) {
    const value = body[name]
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value
  }
  return null
}

const handleChat = async (
  options: ChatHandlerOptions,
  parts: ChatRequestParts
): Promise<Response> => {
  const { deps, executor, operation } = options
  const promptCache = options.promptCache ?? null
  /**
   * Whether the response's end reports the complete answer: only when the prompt cache will store or share it, since
   * assembling costs a parse of every forwarded event. The executor and the response must agree on it.
   */
  let assemble = false
  let cache: CacheSession | null = null
  const { c, body, model, stream } = parts
  const requestId = c.get('requestId')
  const principal = c.get('principal')
  const headers: Record<string, string> = {}
  for (const name of forwardedClientHeaders) {
    const value = c.req.header(name)
    if (value !== undefined) headers[name] = value
  }
  let canonical: ChatRequest | undefined
  const toCanonical = (): ChatRequest => (canonical ??= options.codec.decodeRequest(body, model))
  /** Estimated once, when admission or a route's short requests ask; the response's end reuses it. */
  let inputEstimate: number | undefined
  const estimateInput = (): number =>
    (inputEstimate ??= estimateInputTokens(operation, body, toCanonical))
  const decodeEmbed = options.codec.decodeEmbedRequest
  const toEmbedRequest =
    decodeEmbed === undefined ? undefined : (): EmbedRequest => decodeEmbed(body, model)
  const startedAt = c.get('startedAt')
  const labels = readUsageLabels({
    headers: c.req.raw.headers,
    body,
    dialect: options.codec.dialect,
  })
  const usageBase: UsageBase = {
    requestId,
    principalId: principal.id,
    tenantId: principal.tenantId,
    keyId: principal.kind === 'key' ? principal.id : null,
    userId: labels.userId,
    tags: labels.tags,
    dialect: options.codec.dialect,
    operation,
    requestedModel: model,
    stream,
    startedAt,
  }
  c.set('usageRecorded', true)
  // A background response (forwarded to OpenAI) runs on after its create answered: its reservation waits for it.
  const background =
    operation === 'responses' && body.background === true && parts.keepForwarded !== undefined
  let route: CallRoute | null = null
  let outcome
  let admission: Admission | null = null
  try {
    const routing = executor.route({ model, operation })
    route = routing instanceof Promise ? await routing : routing
    if (parts.pin !== undefined) route = parts.pin(route)
    else if (route.short !== undefined)
      route = preferShortTarget(route, {
        maxOutputTokens: requestedMaxOutputTokens(body),
        estimateInputTokens: estimateInput,
      })
    // A tenant key's model list holds for the config's global fallbacks too: those it may not use are left out.
    if (principal.access !== null) route = allowedStandIns(route, principal)
    const routed = route
    // The master key has nothing to check: no promise, no closures on its hot path; a tenant key taken from its
    // quota block none either (`admitCall` answers at once then).
    const admitted =
      principal.access === null
        ? unmeteredAdmission
        : admitCall({
            principal,
            model,
            route: routed,
            stores: deps.stores,
            prices: deps.config.prices,
            estimateInputTokens: estimateInput,
            requestedMaxOutputTokens: requestedMaxOutputTokens(body),
            modelMaxOutputTokens: deps.config.maxOutputTokens,
            metered: operation !== 'count-tokens',
            reservationTtlMs: background
              ? deps.config.usage.backgroundPolling.maxAgeMs + backgroundReservationMarginMs
              : undefined,
            clock: deps.clock,
            logger: deps.logger,
          })
    admission = admitted instanceof Promise ? await admitted : admitted
    // The prompt cache, after admission (a key's model list and limits apply to hits too). Off: this one check.
    if (promptCache !== null && promptCache.enabledFor(route)) {
      cache = await promptCache.open({
        operation,
        route,
        principal,
        body,
        forwardedHeaders: headers,
        requestHeaders: c.req.raw.headers,
        stream,
        requestId,
        // A hit's response id must lead somewhere: the gateway keeps it (`keep`), or the request stores nothing.
        uncacheable:
          operation === 'responses' && body.store !== false && parts.keep === undefined
            ? 'a stored response the gateway cannot keep'
            : null,
      })
      if (cache !== null) assemble = cache.assemble
    }
    if (cache?.hit != null) outcome = null
    else
      outcome = await executor.execute({
        operation,
        dialect: options.codec.dialect,
        model,
        route,
        principal,
        stream,
        body,
        bodyText: parts.bodyText,
        query: queryOf(c.req.url),
        headers,
        toCanonical,
        clientParam: options.codec.clientParam,
        toEmbedRequest,
        assemble,
        onAnswerChunk: cache?.onChunk,
        signal: deps.clientSignal(c.req.raw, c.env),
        requestId,
      })
  } catch (error) {
    cache?.abandon()
    // A failed miss still says what the cache did (the error response carries the error's headers).
    if (cache != null && error instanceof GatewayError) cache.addHeaders(error.headers)
    const attempts = Number(
      (error as { headers?: Record<string, string> }).headers?.['x-gatehouse-attempts'] ?? 0
    )
    // Counting tokens is free; every other operation bills its input.
    const cut =
      error instanceof GatewayError && operation !== 'count-tokens' ? error.cutAttempt : null
    let charge: { usage: Usage | null; costMicroUsd: number | null; estimated: boolean }
    if (cut === null) {
      // Nothing reached a provider that bills, or it failed before answering: nothing to pay.
      admission?.settle({ tokens: 0, costMicroUsd: 0 })
      charge = {
        usage: null,
        // Refused before any attempt (a limit, a budget, a model outside the key's list, an unknown model), or a token
        // count (free): known to cost nothing. A call that failed upstream may still have been billed (an answer it
        // could not read): unknown, as the price of a call whose usage was not reported.
        costMicroUsd: attempts === 0 || operation === 'count-tokens' ? 0 : null,
        estimated: false,
      }
    } else {
      // Cut while the upstream had the request (the client left before the answer, a timeout, the drain): the
      // provider bills what it processed, the input at least, so the call costs its estimated input, marked
      // estimated, and the budget is charged as much; what the model wrote before it stopped is unknown.
      charge = settleCharge(
        admission?.settle ?? unmeteredAdmission.settle,
        { usage: cutUsage(estimateInputSafely(estimateInput)), estimated: true },
        deps.config.prices.priceFor(cut.provider, cut.model)
      )
    }
    deps.usage.record(
      usageEvent(usageBase, {
        route: route?.name ?? null,
        provider: cut?.provider ?? null,
        model: cut?.model ?? null,
        status: (error as { status?: number }).status ?? 500,
        usage: charge.usage,
        attempts,
        latencyMs: deps.clock.now() - startedAt,
        ttfbMs: null,
        costMicroUsd: charge.costMicroUsd,
        clientAborted: (error as { status?: number }).status === 499,
        error: (error as Error).message,
        cache: cache?.status ?? null,
        savedCostMicroUsd: null,
        estimated: charge.estimated,
      })
    )
    throw error
  }
  const routeName = route.name
  const { settle } = admission
  const baseHeaders = takeRequestIdHeaders(c)
  for (const name in admission.headers) baseHeaders[name] = admission.headers[name]
  if (outcome === null) {
    // A hit: nothing went upstream, nothing to pay; unless it follows a leader whose stream breaks off, and goes on
    // with an answer of its own (`resume-follower.ts`).
    const session = cache!
    const hit = session.hit!
    let own: { servedBy: ServedBy; usage: Usage | null; model: string } | null = null
    if (hit.reader !== null) {
      const call = {
        operation,
        dialect: options.codec.dialect,
        model,
        route,
        principal,
        stream: false,
        body: unstreamed(body),
        headers,
        toCanonical: () => ({ ...toCanonical(), stream: false }),
        assemble: true,
        requestId,
      }
      hit.reader = resumeAfterLeader({
        leader: hit.reader,
        own: async () => {
          // Only now: a follower whose leader ends well never needs it (it sees a client gone before, too).
          const signal = deps.clientSignal(c.req.raw, c.env)
          const answered = await executor.execute({ ...call, signal })
          const got = answerOfOutcome(answered)
          const servedBy = answered.servedBy
          own = { servedBy, usage: got.usage, model: got.model ?? servedBy.model }
          return got.answer
        },
      })
    }
    /** A follower that went upstream itself pays for its own call, as a miss. */
    const recordOwn = (
      called: { servedBy: ServedBy; usage: Usage | null; model: string },
      error: GatewayError | null
    ): void => {
      const { servedBy } = called
      const charge = settleCharge(
        settle,
        { usage: called.usage, estimated: false },
        deps.config.prices.priceFor(servedBy.provider, called.model)
      )
      deps.usage.record(
        usageEvent(usageBase, {
          route: routeName,
          provider: servedBy.provider,
          model: called.model,
          status: 200,
          usage: charge.usage,
          attempts: servedBy.attempts,
          latencyMs: deps.clock.now() - startedAt,
          ttfbMs: null,
          costMicroUsd: charge.costMicroUsd,
          clientAborted: error?.status === 499,
          error: error?.message ?? null,
          cache: 'miss',
          savedCostMicroUsd: null,
          estimated: charge.estimated,
        })
      )
    }
    return respondFromCache({
      hit,
      stream,
      codec: options.codec,
      body,
      canonical: toCanonical,
      keep: parts.keep,
      echo: parts.echo,
      transformBody: parts.transformBody,
      baseHeaders,
      cacheHeaders: (headers) => session.addHeaders(headers),
      now: deps.clock.now(),
      onEnd: (end) => {
        const now = deps.clock.now()
        if (own !== null) {
          recordOwn(own, end.error)
          return
        }
        settle({ tokens: 0, costMicroUsd: 0 })
        deps.usage.record(
          usageEvent(usageBase, {
            route: routeName,
            provider: hit.provider,
            model: hit.model,
            status: 200,
            usage: noTokens(),
            attempts: 0,
            latencyMs: now - startedAt,
            ttfbMs: now - startedAt,
            costMicroUsd: 0,
            clientAborted: end.error?.status === 499,
            error: end.error?.message ?? null,
            cache: 'hit',
            savedCostMicroUsd: hit.savedCostMicroUsd ?? session.savedCost(end.answer),
          })
        )
      },
    })
  }
  if (cache !== null) {
    cache.served(outcome.servedBy)
    cache.addHeaders(baseHeaders)
  }
  const cacheStatus = cache?.status ?? null
  const echo = parts.echo
  let transformBody = parts.transformBody
  if (echo !== undefined) {
    // A forwarded answer to an expanded request echoes what the client sent (a converted one: through its codec).
    if (outcome.kind === 'forward')
      outcome = {
        ...outcome,
        createClientRewrite: composeRewrites(outcome.createClientRewrite, createEchoRewrite(echo)),
      }
    else if (outcome.kind === 'forward-complete') {
      const before = transformBody
      transformBody = (bytes) => echoIntoBody(before === undefined ? bytes : before(bytes), echo)
    }
  }
  // Built apart from this function, whose closures keep the request's body: a stream holds its end's reporter for
  // its whole life, and should not hold the body (and its decoded form) with it. It takes the input estimate admission
  // made, as a number.
  const reported = createResponseEnd({
    deps,
    cache,
    cacheStatus,
    usageBase,
    routeName,
    startedAt,
    admission,
    keepForwarded: parts.keepForwarded,
    inputEstimate: inputEstimate ?? null,
  })
  const chatResponse: RespondOptions = {
    outcome,
    baseHeaders,
    hideUpstreamRateLimits: principal.access !== null,
    codec: options.codec,
    body,
    canonical: toCanonical,
    assemble,
    onAnswerChunk: cache?.onChunk,
    transformBody,
    keep: parts.keep,
    keepForwarded: reported.keepRunning,
    echo,
    streamBody: deps.streamBody,
    env: c.env,
    onEnd: reported.onEnd,
  }
  if (cache === null) return respondChat(chatResponse)
  try {
    return await respondChat(chatResponse)
  } catch (error) {
    // Identical requests waiting on this one must not wait for an end that will never be reported.
    cache.abandon()
    throw error
  }
}
