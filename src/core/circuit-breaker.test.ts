import { describe, it, expect } from 'vitest'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { httpError } from '../../test/helpers/fake-deps.ts'
import { breakerOutcomeOf, createCircuitBreaker, type BreakerOutcome } from './circuit-breaker.ts'
import { defaultCircuitBreaker, type CircuitBreakerPolicy } from './resolve-config.ts'

const target = { provider: 'openai', model: 'gpt-4o' }

const setup = (policy: Partial<CircuitBreakerPolicy> = {}) => {
  const clock = createFakeClock()
  const breaker = createCircuitBreaker({ policy: { ...defaultCircuitBreaker, ...policy }, clock })
  const call = (outcome: BreakerOutcome): boolean => {
    const permit = breaker.acquire(target)
    if (!permit) return false
    permit.settle(outcome)
    return true
  }
  const state = () =>
    breaker.snapshot().find((entry) => entry.key === 'openai/gpt-4o')?.state ?? 'closed'
  return { clock, breaker, call, state }
}

describe('breakerOutcomeOf', () => {
  it('counts connection errors, timeouts and 5xx, not 4xx, and ignores client aborts', () => {
    expect(
      breakerOutcomeOf(new ProviderError({ kind: 'connection', status: 502, message: 'x' }))
    ).toBe('failure')
    expect(
      breakerOutcomeOf(new ProviderError({ kind: 'timeout', status: 504, message: 'x' }))
    ).toBe('failure')
    expect(breakerOutcomeOf(httpError(503))).toBe('failure')
    expect(breakerOutcomeOf(httpError(529))).toBe('failure')
    expect(breakerOutcomeOf(httpError(400))).toBe('success')
    expect(breakerOutcomeOf(httpError(429))).toBe('success')
    expect(
      breakerOutcomeOf(new ProviderError({ kind: 'aborted', status: 499, message: 'x' }))
    ).toBe('aborted')
  })
})

describe('createCircuitBreaker', () => {
  it('turns a success into a failure when the call breaks later (a stream), so each call counts once', () => {
    const { breaker, call, state } = setup({ minFailures: 3, failureRatio: 0.5, windowSize: 20 })
    for (let index = 0; index < 4; index += 1) expect(call('success')).toBe(true)
    breaker.recordFailure(target)
    breaker.recordFailure(target)
    expect(breaker.snapshot()[0]).toMatchObject({ calls: 4, failures: 2, state: 'closed' })
    breaker.recordFailure(target)
    expect(breaker.snapshot()[0]).toMatchObject({ calls: 4, failures: 3 })
    expect(state()).toBe('open')
  })

  it('opens at minFailures failures and then refuses attempts', () => {
    const { call, state } = setup()
    for (let index = 0; index < 4; index += 1) expect(call('failure')).toBe(true)
    expect(state()).toBe('closed')
    expect(call('failure')).toBe(true)
    expect(state()).toBe('open')
    expect(call('success')).toBe(false)
  })

  it('stays closed while failures are under failureRatio of the recent calls', () => {
    const { call, state } = setup()
    for (let index = 0; index < 6; index += 1) call('success')
    for (let index = 0; index < 5; index += 1) call('failure')
    expect(state()).toBe('closed')
    call('failure')
    expect(state()).toBe('open')
  })

  it('only looks at the last windowSize calls', () => {
    const { call, state } = setup({ windowSize: 4, minFailures: 2 })
    for (let index = 0; index < 10; index += 1) call('success')
    call('failure')
    expect(state()).toBe('closed')
    call('failure')
    expect(state()).toBe('open')
  })

  it('forgets failures older than windowMs', async () => {
    const { clock, call, state } = setup()
    for (let index = 0; index < 4; index += 1) call('failure')
    await clock.advance(60_000)
    call('failure')
    expect(state()).toBe('closed')
  })

  it('does not count client errors or aborted calls', () => {
    const { call, state } = setup()
    for (let index = 0; index < 20; index += 1) call('success')
    for (let index = 0; index < 20; index += 1) call('aborted')
    expect(state()).toBe('closed')
  })

  it('lets one half-open probe through after openMs; its success closes the breaker', async () => {
    const { clock, breaker, call, state } = setup()
    for (let index = 0; index < 5; index += 1) call('failure')
    await clock.advance(29_999)
    expect(breaker.acquire(target)).toBeNull()
    await clock.advance(1)
    const probe = breaker.acquire(target)
    expect(probe?.probe).toBe(true)
    expect(state()).toBe('half-open')
    expect(breaker.acquire(target)).toBeNull()
    probe!.settle('success')
    expect(state()).toBe('closed')
    expect(call('success')).toBe(true)
  })

  it('re-opens on a failed probe with a doubled open period, capped at maxOpenMs', async () => {
    const { clock, breaker, call } = setup({ openMs: 30_000, maxOpenMs: 100_000 })
    for (let index = 0; index < 5; index += 1) call('failure')
    const periods: number[] = []
    for (let round = 0; round < 4; round += 1) {
      const openedAt = clock.now()
      let probe = breaker.acquire(target)
      while (!probe && clock.now() - openedAt < 1_000_000) {
        await clock.advance(1_000)
        probe = breaker.acquire(target)
      }
      periods.push(clock.now() - openedAt)
      probe!.settle('failure')
    }
    expect(periods).toEqual([30_000, 60_000, 100_000, 100_000])
  })

  it('a probe the client abandoned leaves room for the next probe', async () => {
    const { clock, breaker, call } = setup()
    for (let index = 0; index < 5; index += 1) call('failure')
    await clock.advance(30_000)
    breaker.acquire(target)!.settle('aborted')
    expect(breaker.acquire(target)?.probe).toBe(true)
  })

  it('puts a 429 target in cooldown for its retry-after without counting a failure', async () => {
    const { clock, breaker, state } = setup()
    breaker.cooldown({ ...target, ms: 5_000 })
    expect(breaker.acquire(target)).toBeNull()
    expect(breaker.blockedSince(target)).toBe(clock.now())
    expect(state()).toBe('closed')
    await clock.advance(5_000)
    expect(breaker.acquire(target)).not.toBeNull()
    expect(breaker.blockedSince(target)).toBeNull()
  })

  it('reports when each blocked target was blocked, for picking the oldest', async () => {
    const { clock, breaker } = setup({ minFailures: 1 })
    const other = { provider: 'anthropic', model: 'claude' }
    const openedFirst = clock.now()
    breaker.acquire(target)!.settle('failure')
    await clock.advance(1_000)
    breaker.acquire(other)!.settle('failure')
    expect(breaker.blockedSince(target)).toBe(openedFirst)
    expect(breaker.blockedSince(other)).toBe(openedFirst + 1_000)
  })

  it('force grants an attempt even while open', () => {
    const { breaker, call } = setup({ minFailures: 1 })
    call('failure')
    expect(breaker.acquire(target)).toBeNull()
    expect(breaker.acquire({ ...target, force: true })).not.toBeNull()
  })

  it('keeps one breaker per (provider, model)', () => {
    const { breaker, call } = setup({ minFailures: 1 })
    call('failure')
    expect(breaker.acquire({ provider: 'openai', model: 'gpt-4o-mini' })).not.toBeNull()
    expect(breaker.acquire({ provider: 'groq', model: 'gpt-4o' })).not.toBeNull()
  })

  it('snapshots state for metrics', () => {
    const { clock, breaker, call } = setup()
    for (let index = 0; index < 5; index += 1) call('failure')
    expect(breaker.snapshot()).toEqual([
      {
        key: 'openai/gpt-4o',
        provider: 'openai',
        model: 'gpt-4o',
        state: 'open',
        failures: 5,
        calls: 5,
        openedAt: clock.now(),
        retryAt: clock.now() + 30_000,
        cooldownUntil: null,
      },
    ])
  })

  it('never refuses when disabled', () => {
    const { breaker, call } = setup({ enabled: false })
    for (let index = 0; index < 50; index += 1) expect(call('failure')).toBe(true)
    breaker.cooldown({ ...target, ms: 10_000 })
    expect(breaker.acquire(target)).not.toBeNull()
    expect(breaker.snapshot()).toEqual([])
  })
})

describe('createCircuitBreaker: many targets', () => {
  it('past 1,000 targets, drops the closed and idle ones, keeps the rest, and still tells targets apart', async () => {
    const { clock, breaker } = setup({ minFailures: 1, failureRatio: 0.5, windowMs: 10_000 })
    // The same model name under two providers is two targets.
    breaker.acquire({ provider: 'a', model: 'm' })?.settle('failure')
    expect(breaker.acquire({ provider: 'a', model: 'm' })).toBeNull()
    expect(breaker.acquire({ provider: 'b', model: 'm' })).not.toBeNull()
    breaker.acquire({ provider: 'b', model: 'busy' })?.settle('success')
    for (let index = 0; index < 1_100; index += 1)
      breaker.acquire({ provider: `p${index % 3}`, model: `idle-${index}` })?.settle('success')
    expect(breaker.snapshot().length).toBeGreaterThan(1_000)
    // Their calls leave the window; the next new target sweeps: the idle ones go, the open one stays.
    await clock.advance(20_000)
    breaker.acquire({ provider: 'c', model: 'new' })
    const keys = breaker.snapshot().map((entry) => entry.key)
    expect(keys).toContain('a/m')
    expect(keys).toContain('c/new')
    expect(keys).not.toContain('p0/idle-0')
    expect(keys.length).toBeLessThan(10)
    expect(breaker.snapshot().find((entry) => entry.key === 'a/m')?.state).toBe('open')
  })
})

describe('createCircuitBreaker: a long window', () => {
  it('counts exactly the last windowSize calls, however many came before', () => {
    const { call, state } = setup({ windowSize: 100, minFailures: 60, failureRatio: 0.6 })
    for (let index = 0; index < 50; index += 1) call('success')
    // 59 failures: the window holds the last 100 calls, 41 successes and 59 failures, below 60%.
    for (let index = 0; index < 59; index += 1) call('failure')
    expect(state()).toBe('closed')
    // The 60th: 40 successes and 60 failures, the oldest 10 successes out of the window.
    call('failure')
    expect(state()).toBe('open')
  })

  it('turns the latest success in the window into a failure when a stream breaks after its first byte', () => {
    const { breaker, call, state } = setup({ windowSize: 40, minFailures: 20, failureRatio: 0.5 })
    // The last 40 of 45 calls: 21 successes and 19 failures, one failure short.
    for (let index = 0; index < 45; index += 1) call(index < 26 ? 'success' : 'failure')
    expect(state()).toBe('closed')
    breaker.recordFailure(target)
    expect(state()).toBe('open')
  })
})
