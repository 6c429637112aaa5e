/**
 * Retries against one target, with p-retry (https://github.com/sindresorhus/p-retry) for the loop and the injected
 * clock for every wait (p-retry's own timer is not injectable, so its delays are zero and we sleep in `shouldRetry`).
 * Which errors are worth retrying follows the official SDKs (wire-notes §5): connection errors, timeouts, 408, 409,
 * 429 and 5xx. Defaults and their reasons: ARCHITECTURE.md "Spine decisions" (Retries).
 */
import pRetry, { AbortError } from 'p-retry'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { sleep, type Clock } from './clock.ts'
import type { RetryPolicy } from './resolve-config.ts'

/**
 * Full-jitter backoff (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/):
 * a uniform draw from [0, min(maxDelayMs, initialDelayMs · 2^retry)), `retry` counting from 0.
 */
export const backoffDelay = (options: {
  retry: number
  policy: RetryPolicy
  random: () => number
}): number => {
  const { retry, policy, random } = options
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** retry)
  return Math.floor(random() * ceiling)
}

/**
 * Anthropic's `details.error_code` of a spend limit reached (a 429 `rate_limit_error`, which would otherwise be
 * retried): `@anthropic-ai/sdk`'s `ErrorDetails` (resources/shared.d.ts).
 */
const spendLimitCodes: ReadonlySet<unknown> = new Set([
  'enforced_spend_limit_reached',
  'contract_spend_limit_reached',
  'linked_organization_spend_limit_reached',
  'linked_organization_billing_unavailable',
])

/**
 * A spent quota or billing problem on the gateway's account: retrying the same target cannot help, another might.
 * OpenAI: 429 `insufficient_quota`; Anthropic: `billing_error` (https://docs.anthropic.com/en/api/errors), or a spend
 * limit reached (`spendLimitCodes`).
 */
export const isQuotaError = (error: ProviderError): boolean =>
  error.type === 'insufficient_quota' ||
  error.code === 'insufficient_quota' ||
  error.type === 'billing_error' ||
  error.code === 'billing_error' ||
  (error.details !== null && spendLimitCodes.has(error.details.error_code))

export type RetryOptions<T> = {
  /** One attempt; `attempt` counts from 1. Throw p-retry's `AbortError` to stop at once without a retry. */
  run: (attempt: number) => Promise<T>
  policy: RetryPolicy
  /** Statuses that go to the next target at once (the route's `fallbackOn`): never retried here. */
  fallbackOn: readonly number[]
  clock: Clock
  /**
   * The request's deadline: `at` (epoch ms) bounds the waits (a retry whose wait would end after it is not made), and
   * the abort of its signal ends the waiting and the loop with its reason. The signal is asked for only once a retry
   * is due.
   */
  deadline: { readonly at: number; abortSignal(): AbortSignal }
  random: () => number
  /** Called when a retry is decided, before its wait: `attempt` is the attempt about to be made (from 2). */
  onRetry?: (retry: { attempt: number; delayMs: number }) => void
}

/** Whether `error` could go better on a second try at the same target. */
export const isRetryableError = (
  error: unknown,
  fallbackOn: readonly number[]
): error is ProviderError =>
  error instanceof ProviderError &&
  error.retryable &&
  !isQuotaError(error) &&
  !(error.kind === 'http' && fallbackOn.includes(error.status))

/** Decides, then waits (backoff or `Retry-After`): true = try again. `retriesConsumed` counts from 0. */
const waitBeforeRetry = async <T>(
  options: RetryOptions<T>,
  error: unknown,
  retriesConsumed: number
): Promise<boolean> => {
  const { policy, fallbackOn, clock, deadline, random } = options
  const signal = deadline.abortSignal()
  if (signal.aborted) throw signal.reason
  if (retriesConsumed >= policy.maxRetries || !isRetryableError(error, fallbackOn)) return false
  const backoff = backoffDelay({ retry: retriesConsumed, policy, random })
  const wait =
    policy.respectRetryAfter && error.retryAfterMs !== null
      ? Math.max(backoff, error.retryAfterMs)
      : backoff
  if (clock.now() + wait >= deadline.at) return false
  options.onRetry?.({ attempt: retriesConsumed + 2, delayMs: wait })
  if (wait > 0) await sleep(clock, wait, signal)
  return true
}

/**
 * Runs `run` until it succeeds, or rejects with the last error once retrying is pointless or spent. The first attempt
 * runs before p-retry is called: the success path, nearly every request, pays nothing for the retry loop (no closure
 * made, no promise but the attempt's own and this function's).
 */
export const retryTarget = async <T>(options: RetryOptions<T>): Promise<T> => {
  try {
    return await options.run(1)
  } catch (error) {
    return await retryAfterFirst(options, error)
  }
}

/**
 * `retryTarget` once its first attempt failed with `error`: for a caller that made the first attempt itself, so
 * that a success costs it neither this function nor its options.
 */
export const retryAfterFirst = async <T>(options: RetryOptions<T>, error: unknown): Promise<T> => {
  if (error instanceof AbortError) throw error.originalError
  if (!(await waitBeforeRetry(options, error, 0))) throw error
  return pRetry((attempt) => options.run(attempt + 1), {
    retries: options.policy.maxRetries - 1,
    minTimeout: 0,
    maxTimeout: 0,
    randomize: false,
    signal: options.deadline.abortSignal(),
    shouldRetry: ({ error, retriesConsumed }) =>
      waitBeforeRetry(options, error, retriesConsumed + 1),
  })
}

export { AbortError as StopRetrying }
