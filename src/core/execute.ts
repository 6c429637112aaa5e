/**
 * Runs one client call against the ordered targets of its model: retry (p-retry) ▸ timeouts ▸ fallback ▸ circuit
 * breaker. Retries and fallback happen only before the first byte reaches the client: for streams, `execute`
 * resolves only after the first upstream chunk has arrived, so a stall before it still falls back.
 * Policy and defaults: ARCHITECTURE.md "Spine decisions".
 */
import type { ChatRequest } from '../../providers/spec/chat-types.ts'
import { operationDialect, type Operation } from '../../providers/spec/operation.ts'
import type { ProviderAdapter } from '../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { CallRoute, ChatCall, ChatOutcome } from './chat-call.ts'
import {
  breakerOutcomeOf,
  CircuitOpenError,
  createCircuitBreaker,
  type CircuitBreaker,
} from './circuit-breaker.ts'
import type { Clock } from './clock.ts'
import { createDeadline, type Deadline } from './deadline.ts'
import { dispatchAttempt, type AttemptPlan } from './dispatch-attempt.ts'
import { type CutAttempt, GatewayError, invalidRequest } from './errors.ts'
import { estimateTokens } from './estimate-tokens.ts'
import type { GuardedStreamEnd } from './guard-stream.ts'
import type { ExecutionEvent, ExecutionObserver } from './execution-observer.ts'
import type { Logger } from './logger.ts'
import { mapProviderError } from './map-provider-error.ts'
import { createModelCatalog, type ModelCatalog } from './model-catalog.ts'
import { resolveTargets, type Target } from './model-router.ts'
import { shortTargetOf } from './short-requests.ts'
import type { ProviderRegistry } from './provider-registry.ts'
import type { ResolvedConfig } from './resolve-config.ts'
import { isQuotaError, retryAfterFirst, StopRetrying, type RetryOptions } from './retry.ts'

/** What the executor needs from the outside world (a part of `Deps`). */
export type ExecutorDeps = {
  config: ResolvedConfig
  providers: ProviderRegistry
  clock: Clock
  logger: Logger
  /** Attempts, retries, fallbacks, breaker changes, stream ends (`execution-observer.ts`). */
  observer: ExecutionObserver
}

/**
 * Per-process state of execution (circuit breakers, cached model lists), created once by `createApp`.
 * On Workers this state lives per isolate.
 */
export interface Executor {
  /**
   * Where the model leads, before anything is sent: throws a 404 for an unknown model, a 400 when the operation
   * cannot be served there, always as a rejected promise. Separate from `execute` so that what comes between (limits,
   * the cache) can see the route. Answers directly, without a promise, once the model lists are known.
   */
  route(options: { model: string; operation: Operation }): CallRoute | Promise<CallRoute>
  /**
   * Throws a `GatewayError` (never a raw `ProviderError`) when no target could serve the call: status, message and
   * headers (`x-should-retry: false`, `retry-after`, `x-gatehouse-attempts`) already decided.
   */
  execute(call: ChatCall): Promise<ChatOutcome>
  readonly catalog: ModelCatalog
}

/** The executor `createExecutor` builds: an `Executor` whose breaker state can be read (metrics, admin). */
export type GatewayExecutor = Executor & { readonly circuitBreaker: CircuitBreaker }

export type ExecutorOptions = {
  /** Uniform in [0, 1): weighted route order and backoff jitter. Injected for tests. */
  random?: () => number
  catalog?: ModelCatalog
}

/** Anthropic requires `max_tokens`; used when neither config nor the model table knows the model's maximum. */
const fallbackMaxOutputTokens = 4096

/** A failure the client caused (the same request would fail anywhere): returned at once, never retried elsewhere. */
const isClientError = (error: ProviderError, target: Target): boolean => {
  if (error.kind === 'unsupported') return true
  if (error.kind !== 'http' || error.retryable || error.status < 400 || error.status >= 500)
    return false
  if ([401, 403, 408, 409, 429].includes(error.status)) return false
  return !isQuotaError(error) && !target.fallbackOn.includes(error.status)
}

const withProvider = (error: ProviderError, providerId: string): ProviderError =>
  error.providerId !== undefined ? error : error.with({ providerId })

/** The target forwards the operation byte for byte (`ProviderAdapter.forwards`, and `forwardsModel` for its model). */
const forwardsNatively = (adapter: ProviderAdapter, operation: Operation, model: string): boolean =>
  adapter.forward !== undefined &&
  adapter.forwards.includes(operation) &&
  (adapter.forwardsModel?.(operation, model) ?? true)

/**
 * Why the target cannot serve the operation at all (`message`: the adapter's words, when it gave some), or `null`.
 * Embeddings have no chat form: a target serves them by forwarding or through `embed`. Beyond that the adapter may
 * refuse one of its models (`cannotServe`: chat on a local embedding model, embeddings on a local chat model).
 */
const refusalOf = (target: Target, operation: Operation): { message: string | null } | null => {
  const adapter = target.provider.adapter
  if (
    operation === 'embeddings' &&
    adapter.embed === undefined &&
    !forwardsNatively(adapter, operation, target.model)
  )
    return { message: null }
  const message = adapter.cannotServe?.(operation, target.model) ?? null
  return message === null ? null : { message }
}

/**
 * The targets that can serve the operation, in order, and the first refusal an adapter worded (`null` when none did).
 * Allocates only when some target is left out.
 */
const servableTargets = (
  resolved: Target[],
  operation: Operation
): { targets: Target[]; refusal: string | null } => {
  let targets = resolved
  let refusal: string | null = null
  for (let index = 0; index < resolved.length; index += 1) {
    const refused = refusalOf(resolved[index], operation)
    if (refused === null) {
      if (targets !== resolved) targets.push(resolved[index])
      continue
    }
    if (targets === resolved) targets = resolved.slice(0, index)
    refusal ??= refused.message
  }
  return { targets, refusal }
}

type AttemptEnded = Extract<ExecutionEvent, { type: 'attempt-ended' }>
type AttemptEnd = Pick<AttemptEnded, 'outcome' | 'status' | 'errorKind' | 'errorCode'>

/** Written out field by field, like every per-request object here (docs/architecture.md, hot-path rules). */
const attemptEnded = (
  call: ChatCall,
  provider: string,
  model: string,
  attempt: number,
  durationMs: number,
  end: AttemptEnd
): AttemptEnded => ({
  type: 'attempt-ended',
  requestId: call.requestId,
  operation: call.operation,
  provider,
  model,
  attempt,
  outcome: end.outcome,
  status: end.status,
  errorKind: end.errorKind,
  errorCode: end.errorCode,
  durationMs,
})

type RunState = {
  attempts: number
  lastFailure: ProviderError | null
  deadline: Deadline
  /** The last attempt a timeout or an abort ended while its upstream had the request (`CutAttempt`). */
  cut: CutAttempt | null
}

type Attempt = { target: Target; plan: AttemptPlan; call: ChatCall; force: boolean }

export const createExecutor = (
  deps: ExecutorDeps,
  options: ExecutorOptions = {}
): GatewayExecutor => {
  const { config, clock, observer } = deps
  /** Whether an attempt's start and success are worth an event (`ExecutionObserver.ignoresSuccessfulAttempts`). */
  const watchesSuccesses = observer.ignoresSuccessfulAttempts !== true
  const random = options.random ?? Math.random
  const catalog =
    options.catalog ??
    createModelCatalog({
      registry: deps.providers,
      clock,
      logger: deps.logger,
      ttlMs: config.modelListTtlMs,
    })
  const circuitBreaker = createCircuitBreaker({
    policy: config.circuitBreaker,
    clock,
    onChange: (change) =>
      observer.observe({
        type: 'breaker',
        provider: change.provider,
        model: change.model,
        from: change.from,
        to: change.to,
      }),
  })

  const planFor = (
    target: Target,
    call: ChatCall,
    canonical: () => ChatRequest
  ): AttemptPlan | { kind: 'estimate' } => {
    const adapter = target.provider.adapter
    if (forwardsNatively(adapter, call.operation, target.model)) return { kind: 'forward' }
    if (call.operation === 'count-tokens') return { kind: 'estimate' }
    if (call.operation === 'embeddings')
      // `route` kept only targets that forward embeddings or have `embed`.
      return { kind: 'embed', request: { ...call.toEmbedRequest!(), model: target.model } }
    const request: ChatRequest = { ...canonical(), model: target.model }
    if (!adapter.requiresMaxTokens || request.maxTokens !== undefined)
      return { kind: 'chat', request }
    const maxTokens = config.maxOutputTokens(target.model) ?? fallbackMaxOutputTokens
    return { kind: 'chat', request: { ...request, maxTokens }, defaultedMaxTokens: maxTokens }
  }

  /**
   * What a stream's end tells the breaker and the observer. Made apart from `attemptOnce`, whose frame holds the call
   * (the request's body among it): a stream keeps this for its whole life.
   */
  const watchStreamEnd =
    (
      requestId: string,
      operation: Operation,
      providerId: string,
      model: string,
      startedAt: number
    ) =>
    (end: GuardedStreamEnd): void => {
      if (
        end.outcome === 'broken' &&
        end.upstreamFault &&
        end.error instanceof ProviderError &&
        breakerOutcomeOf(withProvider(end.error, providerId)) === 'failure'
      ) {
        circuitBreaker.recordFailure({ provider: providerId, model })
      }
      observer.observe({
        type: 'stream-ended',
        requestId,
        operation,
        provider: providerId,
        model,
        outcome: end.outcome,
        durationMs: clock.now() - startedAt,
      })
    }

  /** `force`: the attempt goes ahead even with the breaker open (given apart: no object per attempt). */
  const attemptOnce = async (
    options: Attempt,
    force: boolean,
    state: RunState
  ): Promise<ChatOutcome> => {
    const { target, plan, call } = options
    const providerId = target.provider.config.id
    // A client already gone, or a budget already spent, gets no attempt at all.
    if (state.deadline.reason !== undefined) throw new StopRetrying(state.deadline.reason)
    const permit = circuitBreaker.acquire({ provider: providerId, model: target.model, force })
    if (!permit) throw new StopRetrying(new CircuitOpenError(`${providerId}/${target.model}`))
    state.attempts += 1
    const attempt = state.attempts
    const startedAt = clock.now()
    if (watchesSuccesses)
      observer.observe({
        type: 'attempt-started',
        requestId: call.requestId,
        operation: call.operation,
        provider: providerId,
        model: target.model,
        attempt,
        forwarded: plan.kind === 'forward',
      })
    try {
      // A stream that breaks after its first byte was a success for the retry logic (it can no longer be retried),
      // but a failure of the upstream all the same: the breaker counts it. Only a stream has such an end.
      const onStreamEnd = !call.stream
        ? undefined
        : watchStreamEnd(call.requestId, call.operation, providerId, target.model, startedAt)
      const outcome = await dispatchAttempt({
        target,
        plan,
        call,
        clock,
        deadline: state.deadline,
        attempt,
        onStreamEnd,
      })
      permit.settle('success')
      if (watchesSuccesses)
        observer.observe(
          attemptEnded(call, providerId, target.model, attempt, clock.now() - startedAt, {
            outcome: 'success',
            status: 'status' in outcome ? outcome.status : 200,
            errorKind: null,
            errorCode: null,
          })
        )
      return outcome
    } catch (caught) {
      if (!(caught instanceof ProviderError)) {
        // The gateway's own failure (a bug, a body it cannot serialise): a 500 of its own, logged with its stack by
        // on-error.ts, never blamed on the provider, never counted by its breaker, never retried elsewhere.
        permit.settle('aborted')
        observer.observe(
          attemptEnded(call, providerId, target.model, attempt, clock.now() - startedAt, {
            outcome: 'failure',
            status: 500,
            errorKind: 'internal',
            errorCode: null,
          })
        )
        throw new StopRetrying(caught instanceof Error ? caught : new Error(String(caught)))
      }
      const error = withProvider(caught, providerId)
      const breakerOutcome = breakerOutcomeOf(error)
      permit.settle(breakerOutcome)
      if (error.kind === 'http' && error.status === 429 && error.retryAfterMs !== null) {
        circuitBreaker.cooldown({
          provider: providerId,
          model: target.model,
          ms: error.retryAfterMs,
        })
      }
      observer.observe(
        attemptEnded(call, providerId, target.model, attempt, clock.now() - startedAt, {
          outcome: breakerOutcome === 'aborted' ? 'aborted' : 'failure',
          status: error.status,
          errorKind: error.kind,
          errorCode: error.code ?? null,
        })
      )
      state.lastFailure = error
      // The last attempt, cut while the upstream may have had the request: what it processed may be billed
      // (handle-chat.ts). Any other end of a later attempt clears it: a cut attempt retried is not counted.
      state.cut =
        (error.kind === 'timeout' || error.kind === 'aborted') && !error.unsent
          ? { provider: providerId, model: target.model }
          : null
      throw error
    }
  }

  const retryOptions = (options: Attempt, state: RunState): RetryOptions<ChatOutcome> => ({
    // A forced attempt (every breaker open) is one probe, not a retry budget against a failing target.
    run: (attempt) => attemptOnce(options, options.force && attempt === 1, state),
    policy: options.target.retry,
    fallbackOn: options.target.fallbackOn,
    clock,
    deadline: state.deadline,
    random,
    onRetry: ({ delayMs }) =>
      observer.observe({
        type: 'retry',
        requestId: options.call.requestId,
        operation: options.call.operation,
        provider: options.target.provider.config.id,
        model: options.target.model,
        attempt: state.attempts + 1,
        delayMs,
      }),
  })

  /**
   * Attempts a target with its retries. The first attempt is made here, so a success (nearly every call) costs no
   * retry options, closures or retry frame.
   */
  const runTarget = async (options: Attempt, state: RunState): Promise<ChatOutcome> => {
    try {
      return await attemptOnce(options, options.force, state)
    } catch (error) {
      return await retryAfterFirst(retryOptions(options, state), error)
    }
  }

  const estimate = (target: Target, canonical: ChatRequest, state: RunState): ChatOutcome => {
    state.deadline.dispose()
    return {
      kind: 'count',
      inputTokens: estimateTokens({ ...canonical, model: target.model }),
      estimated: true,
      servedBy: {
        provider: target.provider.config.id,
        model: target.model,
        attempts: state.attempts,
        firstByteAt: clock.now(),
      },
    }
  }

  const fellBack = (
    call: ChatCall,
    from: Target,
    to: Target,
    reason: 'failed' | 'circuit-open'
  ): void =>
    observer.observe({
      type: 'fallback',
      requestId: call.requestId,
      operation: call.operation,
      from: { provider: from.provider.config.id, model: from.model },
      to: { provider: to.provider.config.id, model: to.model },
      reason,
    })

  const route: Executor['route'] = ({ model, operation }) => {
    const resolved = resolveTargets({
      model,
      dialect: operationDialect[operation],
      config,
      registry: deps.providers,
      catalog,
      random,
    })
    if (resolved instanceof Promise)
      return resolved.then((targets) => callRoute(model, operation, targets))
    try {
      return callRoute(model, operation, resolved)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** The route of a call to `model` over the targets it resolved to; throws when none can serve `operation`. */
  const callRoute = (model: string, operation: Operation, all: Target[]): CallRoute => {
    // A model the client named itself (no route) that cannot serve the operation is the answer, a 400, even with
    // global fallbacks behind it: they stand in for a provider that is down, not for the wrong kind of model.
    const named = all[0].routeName === undefined && all.length > 1
    const resolved = named && refusalOf(all[0], operation) !== null ? [all[0]] : all
    const { targets, refusal } = servableTargets(resolved, operation)
    if (targets.length === 0) {
      if (refusal !== null) throw invalidRequest(refusal, 'model')
      const names = resolved.map(({ provider }) => `"${provider.config.id}"`).join(', ')
      throw invalidRequest(
        `Embeddings are not available from provider ${names}: use an OpenAI-compatible provider or a local embedding model.`,
        'model'
      )
    }
    let short =
      operation === 'embeddings' || targets[0].routeName === undefined
        ? undefined
        : shortTargetOf(model, config, deps.providers)
    if (short !== undefined && refusalOf(short.target, operation) !== null) short = undefined
    return short === undefined
      ? { name: targets[0].routeName ?? null, targets }
      : { name: targets[0].routeName ?? null, targets, short }
  }

  const execute = async (call: ChatCall): Promise<ChatOutcome> => {
    const deadline = createDeadline({
      clock,
      totalMs: call.route.targets[0].timeouts.totalMs,
      signal: call.signal,
    })
    const state: RunState = { attempts: 0, lastFailure: null, deadline, cut: null }
    // Every target in turn, until one answers (one async frame for the whole call: its targets are tried here).
    try {
      let canonical: ChatRequest | undefined
      const toCanonical = (): ChatRequest => (canonical ??= call.toCanonical())
      let skipped: { target: Target; plan: AttemptPlan }[] | null = null
      let left: { target: Target; reason: 'failed' | 'circuit-open' } | null = null
      /** The last failure of a target that could take the request (not a refusal of a fallback's, below). */
      let failed: ProviderError | null = null
      let refusedAttempts = 0
      for (const target of call.route.targets) {
        if (left !== null) fellBack(call, left.target, target, left.reason)
        const plan = planFor(target, call, toCanonical)
        if (plan.kind === 'estimate') return estimate(target, toCanonical(), state)
        const attemptsBefore = state.attempts
        try {
          // `runTarget` written out: the first attempt in this frame, the retries only after a failure.
          const attempt: Attempt = { target, plan, call, force: false }
          try {
            return await attemptOnce(attempt, false, state)
          } catch (failure) {
            return await retryAfterFirst(retryOptions(attempt, state), failure)
          }
        } catch (error) {
          if (state.deadline.reason !== undefined) throw state.deadline.reason
          if (error instanceof CircuitOpenError) {
            if (state.attempts === attemptsBefore) (skipped ??= []).push({ target, plan })
            left = { target, reason: 'circuit-open' }
            continue
          }
          if (!(error instanceof ProviderError)) throw error
          // A fallback that cannot take the request as it is (the local model and tools, say): the client asked
          // for nothing wrong, so the next target is tried, and the failure that led here is what it gets if none
          // serves, not a 400 of a model it never named. The first target's refusal is the answer.
          if (error.kind === 'unsupported' && left !== null) {
            refusedAttempts += state.attempts - attemptsBefore
            left = { target, reason: 'failed' }
            continue
          }
          if (isClientError(error, target)) throw error
          failed = error
          left = { target, reason: 'failed' }
        }
      }
      // Every target skipped for its open breaker (or refused as a fallback): the oldest is tried after all.
      if (state.attempts === refusedAttempts && skipped !== null) {
        const blockedSince = (entry: { target: Target }): number =>
          circuitBreaker.blockedSince({
            provider: entry.target.provider.config.id,
            model: entry.target.model,
          }) ?? Number.POSITIVE_INFINITY
        const oldest = skipped.reduce((best, entry) =>
          blockedSince(entry) < blockedSince(best) ? entry : best
        )
        try {
          return await runTarget({ ...oldest, call, force: true }, state)
        } catch (error) {
          if (state.deadline.reason !== undefined) throw state.deadline.reason
          throw error instanceof CircuitOpenError && state.lastFailure ? state.lastFailure : error
        }
      }
      if (failed !== null || state.lastFailure !== null) throw failed ?? state.lastFailure
      throw new GatewayError('unavailable', `No provider could serve the model \`${call.model}\`.`)
    } catch (error) {
      deadline.dispose()
      if (error instanceof ProviderError)
        throw mapProviderError(error, {
          attempts: state.attempts,
          clientParam: call.clientParam,
          cutAttempt: state.cut,
          clientDialect: call.dialect,
        })
      throw error
    }
  }

  return { route, execute, catalog, circuitBreaker }
}
