import { describe, it, expect } from 'vitest'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { createAttemptScope, createDeadline } from './deadline.ts'

const never = <T>(): Promise<T> => new Promise<T>(() => {})

const setup = (totalMs = 10_000) => {
  const clock = createFakeClock()
  const client = new AbortController()
  const deadline = createDeadline({ clock, totalMs, signal: client.signal })
  return { clock, client, deadline }
}

describe('createDeadline', () => {
  it('aborts the running attempt, and rejects what it waits for, when the client leaves', async () => {
    const { client, deadline } = setup()
    const scope = deadline.startAttempt({ firstByteMs: 5_000, providerId: 'p' })
    const waiting = scope.race(never<string>())
    client.abort()
    await expect(waiting).rejects.toMatchObject({ kind: 'aborted', status: 499 })
    expect(scope.signal.aborted).toBe(true)
    expect(scope.signal.reason).toBe(deadline.reason)
  })

  it('times the whole call out with a 504 that is not retryable', async () => {
    const { clock, deadline } = setup(3_000)
    const scope = deadline.startAttempt({ firstByteMs: 5_000, providerId: 'p' })
    scope.firstByteReceived()
    await clock.advance(3_000)
    expect(deadline.reason).toMatchObject({ kind: 'timeout', status: 504, retryable: false })
    expect(scope.signal.reason).toBe(deadline.reason)
  })

  it('gives a late first byte a retryable 504 without ending the call', async () => {
    const { clock, deadline } = setup()
    const scope = deadline.startAttempt({ firstByteMs: 1_000, providerId: 'p' })
    const rejected = expect(scope.race(never<string>())).rejects.toMatchObject({
      kind: 'timeout',
      retryable: true,
      providerId: 'p',
    })
    await clock.advance(1_000)
    await rejected
    expect(deadline.reason).toBeUndefined()
    const next = deadline.startAttempt({ firstByteMs: 1_000, providerId: 'p' })
    expect(next.signal.aborted).toBe(false)
  })

  it('starts an attempt already aborted once the call is over, and builds its own signal aborted', () => {
    const { client, deadline } = setup()
    client.abort()
    const scope = deadline.startAttempt({ firstByteMs: 1_000, providerId: 'p' })
    expect(scope.signal.aborted).toBe(true)
    expect(deadline.abortSignal().aborted).toBe(true)
    expect(deadline.abortSignal().reason).toBeInstanceOf(ProviderError)
  })

  it('fires its lazily built signal on a later abort', async () => {
    const { clock, deadline } = setup(2_000)
    const signal = deadline.abortSignal()
    expect(signal.aborted).toBe(false)
    await clock.advance(2_000)
    expect(signal.aborted).toBe(true)
  })

  it('hands a value that arrives after the abort to discard', async () => {
    const { client, deadline } = setup()
    const scope = deadline.startAttempt({ firstByteMs: 5_000, providerId: 'p' })
    let resolveLate: (value: string) => void = () => {}
    const discarded: string[] = []
    const waiting = scope.race(new Promise<string>((resolve) => (resolveLate = resolve)), (value) =>
      discarded.push(value)
    )
    client.abort()
    await expect(waiting).rejects.toMatchObject({ kind: 'aborted' })
    resolveLate('late body')
    await Promise.resolve()
    expect(discarded).toEqual(['late body'])
  })

  it('fires nothing once disposed, and no longer aborts a disposed attempt', async () => {
    const { clock, client, deadline } = setup(1_000)
    const scope = deadline.startAttempt({ firstByteMs: 500, providerId: 'p' })
    scope.dispose()
    deadline.dispose()
    client.abort()
    await clock.advance(2_000)
    expect(deadline.reason).toBeUndefined()
    expect(scope.signal.aborted).toBe(false)
  })
})

describe('createAttemptScope', () => {
  it('times out on its own, with no deadline above it', async () => {
    const clock = createFakeClock()
    const scope = createAttemptScope({ clock, firstByteMs: 5_000, providerId: 'models' })
    const rejected = expect(scope.race(never<string>())).rejects.toMatchObject({
      kind: 'timeout',
      status: 504,
    })
    await clock.advance(5_000)
    await rejected
  })
})
