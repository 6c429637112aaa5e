import { describe, it, expect } from 'vitest'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { httpError } from '../../test/helpers/fake-deps.ts'
import { defaultRetry, type RetryPolicy } from './resolve-config.ts'
import { backoffDelay, isQuotaError, retryTarget } from './retry.ts'

const policy: RetryPolicy = { ...defaultRetry }
const fallbackSignal = new AbortController().signal

/** Runs `retryTarget` with a script of outcomes; records the fake time of every attempt. */
const scripted = (options: {
  outcomes: (Error | string)[]
  policy?: Partial<RetryPolicy>
  random?: () => number
  fallbackOn?: number[]
  deadlineMs?: number
  signal?: AbortSignal
}) => {
  const clock = createFakeClock()
  const start = clock.now()
  const times: number[] = []
  const promise = retryTarget({
    run: async () => {
      times.push(clock.now() - start)
      const outcome = options.outcomes[times.length - 1]
      if (outcome instanceof Error) throw outcome
      return outcome
    },
    policy: { ...policy, ...options.policy },
    fallbackOn: options.fallbackOn ?? [],
    clock,
    deadline: {
      at: start + (options.deadlineMs ?? 580_000),
      abortSignal: () => options.signal ?? fallbackSignal,
    },
    random: options.random ?? (() => 1),
  })
  return { clock, times, promise }
}

describe('backoffDelay', () => {
  it('draws from [0, min(max, initial·2^retry)) (full jitter)', () => {
    const top = (retry: number) => backoffDelay({ retry, policy, random: () => 0.999999 })
    expect([0, 1, 2, 3, 4, 5].map(top)).toEqual([249, 499, 999, 1999, 3999, 3999])
    expect(backoffDelay({ retry: 3, policy, random: () => 0 })).toBe(0)
    expect(backoffDelay({ retry: 1, policy, random: () => 0.5 })).toBe(250)
  })
})

describe('isQuotaError', () => {
  it('recognises OpenAI insufficient_quota and Anthropic billing errors, not plain rate limits', () => {
    expect(isQuotaError(httpError(429, { type: 'insufficient_quota' }))).toBe(true)
    expect(isQuotaError(httpError(429, { code: 'insufficient_quota' }))).toBe(true)
    expect(isQuotaError(httpError(400, { type: 'billing_error' }))).toBe(true)
    expect(isQuotaError(httpError(429, { code: 'rate_limit_exceeded' }))).toBe(false)
  })

  it('recognises an Anthropic 429 whose details say a spend limit was reached, which no retry clears', () => {
    const limited = (errorCode: string) =>
      httpError(429, { type: 'rate_limit_error', details: { error_code: errorCode } })
    expect(isQuotaError(limited('enforced_spend_limit_reached'))).toBe(true)
    expect(isQuotaError(limited('contract_spend_limit_reached'))).toBe(true)
    expect(isQuotaError(limited('ramp_limit_exceeded'))).toBe(false)
    expect(isQuotaError(httpError(429, { type: 'rate_limit_error' }))).toBe(false)
  })
})

describe('retryTarget', () => {
  it('makes 1 + maxRetries attempts on retryable errors, then rejects with the last one', async () => {
    const last = httpError(503, { message: 'third' })
    const { clock, times, promise } = scripted({
      outcomes: [httpError(500), httpError(502), last, 'never'],
    })
    await expect(clock.settle(promise)).rejects.toBe(last)
    expect(times).toHaveLength(3)
  })

  it('honours a custom maxRetries, including 0', async () => {
    const none = scripted({ outcomes: [httpError(500), 'ok'], policy: { maxRetries: 0 } })
    await expect(none.clock.settle(none.promise)).rejects.toMatchObject({ status: 500 })
    expect(none.times).toHaveLength(1)
    const five = scripted({
      outcomes: Array.from({ length: 6 }, () => httpError(500)),
      policy: { maxRetries: 5 },
    })
    await expect(five.clock.settle(five.promise)).rejects.toMatchObject({ status: 500 })
    expect(five.times).toHaveLength(6)
  })

  it('retries connection errors, timeouts, 408, 409 and 429', async () => {
    const errors = [
      new ProviderError({ kind: 'connection', status: 502, message: 'reset' }),
      new ProviderError({ kind: 'timeout', status: 504, message: 'slow' }),
      httpError(408),
      httpError(409),
      httpError(429),
    ]
    for (const error of errors) {
      const { clock, times, promise } = scripted({ outcomes: [error, 'ok'] })
      await expect(clock.settle(promise)).resolves.toBe('ok')
      expect(times).toHaveLength(2)
    }
  })

  it('never retries a 400, 401, 403, 404 or 422', async () => {
    for (const status of [400, 401, 403, 404, 422]) {
      const { clock, times, promise } = scripted({ outcomes: [httpError(status), 'ok'] })
      await expect(clock.settle(promise)).rejects.toMatchObject({ status })
      expect(times).toHaveLength(1)
    }
  })

  it('waits the jittered backoff between attempts, on the injected clock', async () => {
    const { clock, times, promise } = scripted({
      outcomes: [httpError(500), httpError(500), 'ok'],
      random: () => 0.5,
    })
    await expect(clock.settle(promise)).resolves.toBe('ok')
    expect(times).toEqual([0, 125, 125 + 250])
  })

  it('keeps every wait within the cap', async () => {
    const outcomes = [...Array.from({ length: 6 }, () => httpError(500)), 'ok']
    const { clock, times, promise } = scripted({
      outcomes,
      policy: { maxRetries: 6 },
      random: () => 0.999999,
    })
    await expect(clock.settle(promise)).resolves.toBe('ok')
    const waits = times.slice(1).map((time, index) => time - times[index])
    expect(waits).toEqual([249, 499, 999, 1999, 3999, 3999])
  })

  it('waits for Retry-After when it is longer than the backoff', async () => {
    const { clock, times, promise } = scripted({
      outcomes: [httpError(429, { retryAfterMs: 7_000 }), 'ok'],
    })
    await expect(clock.settle(promise)).resolves.toBe('ok')
    expect(times).toEqual([0, 7_000])
  })

  it('ignores Retry-After when respectRetryAfter is off', async () => {
    const { clock, times, promise } = scripted({
      outcomes: [httpError(429, { retryAfterMs: 7_000 }), 'ok'],
      policy: { respectRetryAfter: false },
      random: () => 0,
    })
    await expect(clock.settle(promise)).resolves.toBe('ok')
    expect(times).toEqual([0, 0])
  })

  it('gives up at once when the wait would pass the deadline', async () => {
    const error = httpError(429, { retryAfterMs: 60_000 })
    const { clock, times, promise } = scripted({ outcomes: [error, 'ok'], deadlineMs: 30_000 })
    await expect(clock.settle(promise)).rejects.toBe(error)
    expect(times).toEqual([0])
    expect(clock.now() - Date.UTC(2026, 0, 1)).toBe(0)
  })

  it('does not retry a quota 429 or a status the route falls back on', async () => {
    const quota = scripted({ outcomes: [httpError(429, { type: 'insufficient_quota' }), 'ok'] })
    await expect(quota.clock.settle(quota.promise)).rejects.toMatchObject({
      type: 'insufficient_quota',
    })
    expect(quota.times).toHaveLength(1)
    const routed = scripted({ outcomes: [httpError(503), 'ok'], fallbackOn: [503] })
    await expect(routed.clock.settle(routed.promise)).rejects.toMatchObject({ status: 503 })
    expect(routed.times).toHaveLength(1)
  })

  it('stops waiting when the request is aborted, with the abort reason', async () => {
    const controller = new AbortController()
    const reason = new ProviderError({ kind: 'aborted', status: 499, message: 'gone' })
    const { clock, times, promise } = scripted({
      outcomes: [httpError(500), 'ok'],
      signal: controller.signal,
      random: () => 0.999999,
    })
    promise.catch(() => {})
    await clock.advance(100)
    controller.abort(reason)
    await expect(promise).rejects.toBe(reason)
    expect(times).toHaveLength(1)
    expect(clock.pendingTimers()).toBe(0)
  })
})
