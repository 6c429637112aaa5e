import { ReplyError } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../core/errors.ts'
import { createFakeClock } from '../../../test/helpers/fake-clock.ts'
import { createRecordingLogger } from '../../../test/helpers/fake-deps.ts'
import { RedisGuard, sharedStoreUnavailable } from './redis-guard.ts'

const never = (): Promise<string> => new Promise(() => {})

const setup = (mode: 'open' | 'closed' = 'open') => {
  const clock = createFakeClock()
  const logger = createRecordingLogger()
  // The fake clock's turns end at once: the timeout starts when the command is sent.
  const guard = new RedisGuard({
    mode,
    logger,
    clock,
    timeoutMs: 50,
    afterTurn: (callback) => callback(),
  })
  const fallback = (failedMode: string): string => {
    if (failedMode === 'closed') throw sharedStoreUnavailable('Rate limits')
    return 'fallback'
  }
  return { clock, logger, guard, fallback }
}

describe('RedisGuard', () => {
  it('answers with the fallback when Redis does not answer within the timeout, and logs the incident once', async () => {
    const { clock, logger, guard, fallback } = setup()
    const started = clock.now()
    expect(await clock.settle(guard.run('acquire', never, fallback))).toBe('fallback')
    expect(clock.now() - started).toBe(51)
    // While the incident lasts, one operation probes a second at most; the others get the fallback at once.
    let probes = 0
    const slow = (): Promise<string> => {
      probes += 1
      return never()
    }
    expect(await guard.run('acquire', slow, fallback)).toBe('fallback')
    expect([probes, clock.now() - started]).toEqual([0, 51])
    await clock.advance(1_000)
    const answers = Promise.all(
      Array.from({ length: 10 }, () => guard.run('acquire', slow, fallback))
    )
    expect(await clock.settle(answers)).toEqual(Array(10).fill('fallback'))
    expect([probes, clock.now() - started]).toEqual([1, 1_102])
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        fields: { operation: 'acquire', error: 'timeout after 50 ms', mode: 'open', timeoutMs: 50 },
        message:
          'Redis is unavailable: failing open (rate limits and budgets are not enforced) until it answers again',
      },
    ])
    expect(guard.status()).toEqual({
      mode: 'open',
      timeoutMs: 50,
      available: false,
      since: started + 51,
      failedOperations: 12,
      incidents: 1,
      lastError: 'timeout after 50 ms',
    })
  })

  it('takes an answer that was read just after the timer fired (a busy event loop), not the fallback', async () => {
    const { clock, guard, fallback } = setup()
    let answer: (value: string) => void = () => {}
    const late = (): Promise<string> => new Promise((resolve) => (answer = resolve))
    const result = guard.run('acquire', late, fallback)
    await clock.advance(50)
    // The timer has fired; the answer is read in the same turn of the loop, before the next timers.
    answer('from redis')
    await clock.advance(1)
    expect(await result).toBe('from redis')
    expect(guard.status().available).toBe(true)
  })

  it("starts the timeout when the turn that sent the command ends: a long turn is the gateway's time, not Redis's", async () => {
    // Real timers and turns: a script is corked until its turn ends (`redis-script.ts`), and this Redis answers 5 ms
    // after it is sent. The turn that sends it then runs 80 ms more (a burst of requests on cold code), past the
    // 50 ms timeout, which must not be counted against Redis.
    const logger = createRecordingLogger()
    const guard = new RedisGuard({ mode: 'closed', logger, timeoutMs: 50 })
    const sentAtTurnEnd = (): Promise<string> =>
      new Promise((resolve) => setImmediate(() => setTimeout(() => resolve('from redis'), 5)))
    const result = guard.run('acquire', sentAtTurnEnd, () => {
      throw sharedStoreUnavailable('Rate limits')
    })
    const turnEnds = performance.now() + 80
    while (performance.now() < turnEnds) {
      // The rest of the long turn.
    }
    expect(await result).toBe('from redis')
    expect(guard.status()).toMatchObject({ available: true, incidents: 0 })
    expect(logger.lines).toEqual([])
  })

  it('still times out, with real timers, a command Redis never answers', async () => {
    const guard = new RedisGuard({ mode: 'open', logger: createRecordingLogger(), timeoutMs: 20 })
    const started = performance.now()
    expect(await guard.run('acquire', never, () => 'fallback')).toBe('fallback')
    expect(performance.now() - started).toBeGreaterThanOrEqual(20)
    expect(guard.status()).toMatchObject({ available: false, lastError: 'timeout after 20 ms' })
  })

  it('ends the incident at the first answer, with one line, and counts the next one anew', async () => {
    const { clock, logger, guard, fallback } = setup()
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    await guard.run('acquire', () => Promise.reject(refused), fallback)
    await clock.advance(3_000)
    expect(await guard.run('acquire', async () => 'answer', fallback)).toBe('answer')
    expect(logger.lines.map((line) => [line.level, line.fields])).toEqual([
      ['warn', { operation: 'acquire', error: 'ECONNREFUSED', mode: 'open', timeoutMs: 50 }],
      ['info', { downMs: 3_000, failedOperations: 1, mode: 'open' }],
    ])
    expect(guard.status()).toMatchObject({ available: true, failedOperations: 0, incidents: 1 })
    await guard.run('release', () => Promise.reject(refused), fallback)
    expect(guard.status()).toMatchObject({ available: false, incidents: 2 })
    expect(logger.lines).toHaveLength(3)
  })

  it('fails closed by throwing what the fallback throws', async () => {
    const { clock, guard, fallback } = setup('closed')
    const failure = clock.settle(guard.run('acquire', never, fallback))
    await expect(failure).rejects.toBeInstanceOf(GatewayError)
    await expect(failure).rejects.toMatchObject({
      status: 503,
      code: 'unavailable',
      retryAfterMs: 1_000,
    })
  })

  it('passes an error reply through (a bug, not an outage), but counts Redis saying it cannot serve', async () => {
    const { logger, guard, fallback } = setup()
    const bug = new ReplyError('ERR user_script:3: attempt to compare nil with number')
    await expect(guard.run('acquire', () => Promise.reject(bug), fallback)).rejects.toBe(bug)
    expect(guard.status().available).toBe(true)
    const loading = new ReplyError('LOADING Redis is loading the dataset in memory')
    expect(await guard.run('acquire', () => Promise.reject(loading), fallback)).toBe('fallback')
    expect(guard.status()).toMatchObject({ available: false, lastError: loading.message })
    expect(logger.lines).toHaveLength(1)
  })

  it('sends the cancel of a write that lost the race, and none for one never sent', async () => {
    const { clock, guard } = setup()
    let cancels = 0
    const cancel = async (): Promise<void> => {
      cancels += 1
    }
    expect(await guard.runCancellable('acquire', 'Rate limits', async () => 'taken', cancel)).toBe(
      'taken'
    )
    expect(cancels).toBe(0)
    // Sent, then the timeout: the write may still run in Redis, so its cancel follows it.
    expect(await clock.settle(guard.runCancellable('acquire', 'Rate limits', never, cancel))).toBe(
      null
    )
    expect(cancels).toBe(1)
    // Unavailable and not the probe: nothing is sent, so there is nothing to cancel.
    let sent = 0
    const work = (): Promise<string> => {
      sent += 1
      return never()
    }
    expect(await guard.runCancellable('acquire', 'Rate limits', work, cancel)).toBe(null)
    expect([sent, cancels]).toEqual([0, 1])
  })

  it('fails a cancellable write closed with the store named, after sending its cancel', async () => {
    const { clock, guard } = setup('closed')
    let cancels = 0
    const failure = clock.settle(
      guard.runCancellable('budget reserve', 'Budgets', never, async () => {
        cancels += 1
      })
    )
    await expect(failure).rejects.toMatchObject({
      status: 503,
      code: 'unavailable',
      message: expect.stringMatching(/^Budgets cannot be checked/),
    })
    expect(cancels).toBe(1)
  })

  it('treats a synchronous throw like a rejection', async () => {
    const { guard, fallback } = setup()
    const work = (): Promise<string> => {
      throw new Error("Stream isn't writeable and enableOfflineQueue options is false")
    }
    expect(await guard.run('acquire', work, fallback)).toBe('fallback')
  })
})
