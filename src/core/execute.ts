/**
 * Runs one client call against the ordered targets of its model: retry (p-retry) ▸ timeouts ▸ fallback ▸ circuit
 * breaker. Retries and fallback happen only before the first byte reaches the client: for streams, `execute`
 * resolves only after the first upstream chunk has arrived, so a stall before it still falls back.
 * Policy and defaults: ARCHITECTURE.md "Spine decisions".
 */
import type { ChatChunk, ChatRequest, ChatResult, Dialect } from '../../providers/spec/chat-types.ts'
import type { AbortHandle, ForwardResponse, ForwardTap, HeaderReader } from '../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { modelMaxOutputTokens } from '../../config/model-table.ts'
import type { Deps } from '../deps.ts'
import { breakerOutcomeOf, CircuitOpenError, createCircuitBreaker, type CircuitBreaker } from './circuit-breaker.ts'
import { createDeadline, type Deadline } from './deadline.ts'
import { dispatchAttempt, type AttemptPlan } from './dispatch-attempt.ts'
import type { ChunkReader } from './guard-stream.ts'
import { GatewayError, invalidRequest } from './errors.ts'
import { estimateTokens } from './estimate-tokens.ts'
import { mapProviderError } from './map-provider-error.ts'
import { createModelCatalog, type ModelCatalog } from './model-catalog.ts'
import { resolveTargets, type Target } from './model-router.ts'
import { isQuotaError, retryTarget, StopRetrying } from './retry.ts'

export type ChatCall = {
  /** The dialect the client spoke. */
  dialect: Dialect
  /** `chat` = chat completions / messages; `count-tokens` = Anthropic count_tokens. */
  operation: 'chat' | 'count-tokens' | 'embeddings'
  /** The model as the client sent it. */
  model: string
  stream: boolean
  /** The client's parsed JSON body, forwarded as is on a same-dialect target (never zod's output). */
  body: Record<string, unknown>
  /** Client headers that pass by allowlist, lower-cased (`anthropic-version`, `anthropic-beta`). */
  headers: Record<string, string>
  /** Converts the body to the canonical request, only when a cross-dialect target is tried; throws a 400 GatewayError on a conversion gap. */
  toCanonical: () => ChatRequest
  /** Client disconnect. */
  signal: AbortHandle
  requestId: string
}

export type ServedBy = {
  provider: string
  model: string
  /** Upstream attempts made in total, across targets. */
  attempts: number
  /** Set when the gateway injected Anthropic's required `max_tokens` (the one default we inject). */
  defaultedMaxTokens?: number
  /** Epoch ms when the first upstream byte arrived. */
  firstByteAt: number
}

export type ChatOutcome =
  /** Same dialect, streaming: the raw upstream body (starting with the first chunk), guarded by idle and total timeouts. */
  | {
      kind: 'forward'
      status: number
      headers: HeaderReader
      reader: ChunkReader<Uint8Array>
      /** The adapter's rewrite of the bytes into what the client asked for (`ForwardResponse.createClientRewrite`). */
      createClientRewrite?: ForwardResponse['createClientRewrite']
      tap: ForwardTap | null
      servedBy: ServedBy
    }
  /**
   * Same dialect, not streaming: the whole upstream body, read inside the attempt (so a body that breaks off is still
   * retried or falls back: nothing has reached the client yet).
   */
  | { kind: 'forward-complete'; status: number; headers: HeaderReader; body: Uint8Array; tap: ForwardTap | null; servedBy: ServedBy }
  | { kind: 'result'; result: ChatResult; servedBy: ServedBy }
  /** Cross dialect, streaming: canonical chunks, guarded by idle and total timeouts. */
  | { kind: 'stream'; reader: ChunkReader<ChatChunk>; servedBy: ServedBy }
  /** count_tokens answered by a local estimate (no upstream can count). */
  | { kind: 'count'; inputTokens: number; estimated: boolean; servedBy: ServedBy }

/**
 * Per-process state of execution (circuit breakers, cached model lists), created once by `createApp`.
 * On Workers this state lives per isolate.
 */
export interface Executor {
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
  if (error.kind !== 'http' || error.retryable || error.status < 400 || error.status >= 500) return false
  if ([401, 403, 408, 409, 429].includes(error.status)) return false
  return !isQuotaError(error) && !target.fallbackOn.includes(error.status)
}

const withProvider = (error: unknown, providerId: string): ProviderError => {
  if (!(error instanceof ProviderError)) {
    return new ProviderError({
      kind: 'bad-response',
      status: 502,
      message: 'The provider adapter failed unexpectedly.',
      retryable: false,
      providerId,
      detail: String(error),
      cause: error,
    })
  }
  if (error.providerId !== undefined) return error
  const { kind, message, status, retryable, retryAfterMs, type, code, param, detail } = error
  return new ProviderError({ kind, message, status, retryable, retryAfterMs, type, code, param, detail, providerId, cause: error })
}

type RunState = { attempts: number; lastFailure: ProviderError | null; deadline: Deadline }

export const createExecutor = (deps: Deps, options: ExecutorOptions = {}): GatewayExecutor => {
  const { config, clock, logger } = deps
  const random = options.random ?? Math.random
  const catalog =
    options.catalog ??
    createModelCatalog({
      registry: deps.providers,
      transport: deps.transport,
      clock,
      logger,
      ttlMs: config.modelListTtlMs,
    })
  const circuitBreaker = createCircuitBreaker({ policy: config.circuitBreaker, clock })

  const planFor = (target: Target, call: ChatCall, canonical: () => ChatRequest): AttemptPlan | { kind: 'estimate' } => {
    const adapter = target.provider.adapter
    if (adapter.dialect === call.dialect && adapter.forward) return { kind: 'forward' }
    if (call.operation === 'count-tokens') return { kind: 'estimate' }
    const request: ChatRequest = { ...canonical(), model: target.model }
    if (adapter.dialect !== 'anthropic' || request.maxTokens !== undefined) return { kind: 'chat', request }
    const maxTokens =
      config.models[target.model]?.maxOutputTokens ?? modelMaxOutputTokens(target.model) ?? fallbackMaxOutputTokens
    return { kind: 'chat', request: { ...request, maxTokens }, defaultedMaxTokens: maxTokens }
  }

  const attemptOnce = async (
    options: { target: Target; plan: AttemptPlan; call: ChatCall; force: boolean },
    state: RunState,
  ): Promise<ChatOutcome> => {
    const { target, plan, call, force } = options
    const providerId = target.provider.config.id
    // A client already gone, or a budget already spent, gets no attempt at all.
    if (state.deadline.reason !== undefined) throw new StopRetrying(state.deadline.reason)
    const permit = circuitBreaker.acquire({ provider: providerId, model: target.model, force })
    if (!permit) throw new StopRetrying(new CircuitOpenError(`${providerId}/${target.model}`))
    state.attempts += 1
    const attempt = state.attempts
    try {
      // A stream that breaks after its first byte was a success for the retry logic (it can no longer be retried),
      // but a failure of the upstream all the same: the breaker counts it.
      const onStreamFailure = (error: unknown): void => {
        if (breakerOutcomeOf(withProvider(error, providerId)) === 'failure') {
          circuitBreaker.recordFailure({ provider: providerId, model: target.model })
        }
      }
      const outcome = await dispatchAttempt({ target, plan, call, deps, deadline: state.deadline, attempt, onStreamFailure })
      permit.settle('success')
      return outcome
    } catch (caught) {
      const error = withProvider(caught, providerId)
      permit.settle(breakerOutcomeOf(error))
      if (error.kind === 'http' && error.status === 429 && error.retryAfterMs !== null) {
        circuitBreaker.cooldown({ provider: providerId, model: target.model, ms: error.retryAfterMs })
      }
      const fields = { requestId: call.requestId, provider: providerId, model: target.model, attempt }
      const logFields = { ...fields, status: error.status, kind: error.kind, code: error.code }
      if (error.kind === 'aborted') logger.info(logFields, 'upstream attempt aborted: the client left')
      else logger.warn(logFields, 'upstream attempt failed')
      state.lastFailure = error
      throw error
    }
  }

  const runTarget = (
    options: { target: Target; plan: AttemptPlan; call: ChatCall; force: boolean },
    state: RunState,
  ): Promise<ChatOutcome> =>
    retryTarget({
      // A forced attempt (every breaker open) is one probe, not a retry budget against a failing target.
      run: (attempt) => attemptOnce({ ...options, force: options.force && attempt === 1 }, state),
      policy: options.target.retry,
      fallbackOn: options.target.fallbackOn,
      clock,
      deadline: state.deadline,
      random,
    })

  const estimate = (target: Target, canonical: ChatRequest, state: RunState): ChatOutcome => {
    state.deadline.dispose()
    return {
      kind: 'count',
      inputTokens: estimateTokens({ ...canonical, model: target.model }),
      estimated: true,
      servedBy: { provider: target.provider.config.id, model: target.model, attempts: state.attempts, firstByteAt: clock.now() },
    }
  }

  const runTargets = async (call: ChatCall, targets: Target[], state: RunState): Promise<ChatOutcome> => {
    let canonical: ChatRequest | undefined
    const toCanonical = (): ChatRequest => (canonical ??= call.toCanonical())
    const skipped: { target: Target; plan: AttemptPlan }[] = []
    for (const target of targets) {
      const plan = planFor(target, call, toCanonical)
      if (plan.kind === 'estimate') return estimate(target, toCanonical(), state)
      const attemptsBefore = state.attempts
      try {
        return await runTarget({ target, plan, call, force: false }, state)
      } catch (error) {
        if (state.deadline.reason !== undefined) throw state.deadline.reason
        if (error instanceof CircuitOpenError) {
          if (state.attempts === attemptsBefore) skipped.push({ target, plan })
          continue
        }
        if (!(error instanceof ProviderError) || isClientError(error, target)) throw error
      }
    }
    if (state.attempts === 0 && skipped.length > 0) {
      const blockedSince = (entry: { target: Target }): number =>
        circuitBreaker.blockedSince({ provider: entry.target.provider.config.id, model: entry.target.model }) ??
        Number.POSITIVE_INFINITY
      const oldest = skipped.reduce((best, entry) => (blockedSince(entry) < blockedSince(best) ? entry : best))
      try {
        return await runTarget({ ...oldest, call, force: true }, state)
      } catch (error) {
        if (state.deadline.reason !== undefined) throw state.deadline.reason
        throw error instanceof CircuitOpenError && state.lastFailure ? state.lastFailure : error
      }
    }
    if (state.lastFailure) throw state.lastFailure
    throw new GatewayError('unavailable', `No provider could serve the model \`${call.model}\`.`)
  }

  const execute = async (call: ChatCall): Promise<ChatOutcome> => {
    const resolved = await resolveTargets({
      model: call.model,
      dialect: call.dialect,
      config,
      registry: deps.providers,
      catalog,
      random,
    })
    const targets =
      call.operation === 'embeddings'
        ? resolved.filter(({ provider }) => provider.adapter.dialect === 'openai' && provider.adapter.forward)
        : resolved
    if (targets.length === 0) {
      const names = resolved.map(({ provider }) => `"${provider.config.id}"`).join(', ')
      throw invalidRequest(`Embeddings are not available from provider ${names}: use an OpenAI-compatible provider.`, 'model')
    }
    const deadline = createDeadline({ clock, totalMs: targets[0].timeouts.totalMs, signal: call.signal })
    const state: RunState = { attempts: 0, lastFailure: null, deadline }
    try {
      return await runTargets(call, targets, state)
    } catch (error) {
      deadline.dispose()
      if (error instanceof ProviderError) throw mapProviderError(error, { attempts: state.attempts })
      throw error
    }
  }

  return { execute, catalog, circuitBreaker }
}
