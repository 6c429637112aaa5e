/**
 * What the Redis-backed stores do when Redis does not answer: every operation is bounded by a timeout (50 ms by
 * default), and a failed one is answered by the operator's choice, fail-open (the request goes through unlimited) or
 * fail-closed (it is refused with a 503). One guard per Redis connection, shared by its stores, so an outage is one
 * incident: one warning when it starts, one line when Redis answers again, whatever the request rate in between.
 *
 * While Redis is unavailable, one operation probes it at most every `probeIntervalMs` (1 s), and waits up to the
 * timeout; the others get the fallback at once, so an outage where packets vanish costs one timeout a second, not one
 * per request. The first probe that succeeds ends the incident (so limits resume within a second of Redis's return).
 *
 * The timeout is a race of our own, not ioredis's `commandTimeout`: it also bounds the time a command waits in the
 * client's offline queue, and whatever the client's options. A command that loses the race may still run in Redis
 * later: the stores then send a cancel right behind it on the same connection (a late acquire's concurrency slots
 * and a late reservation are freed), and what remains errs on the side of counting (its request and tokens).
 *
 * The timeout counts Redis's time, not the gateway's own backlog. Its clock starts at the end of the event-loop turn
 * that sent the command (`afterTurn`, `setImmediate`): the scripts of a turn leave only then (`redis-script.ts` corks
 * the socket until the turn ends), and a turn of a busy gateway can last longer than the timeout (a burst of
 * requests on cold code: 85 requests refused with a 503 at the start of a benchmark's tenant scenario, 2026-12-07,
 * Redis "down" for 36 ms). And the race is judged after one more turn: a timer fires before the loop reads its
 * sockets, so on a gateway busy enough to run its timers late, Redis's answer is often already there, unread, when
 * the timeout fires. Without either, a saturated gateway would declare Redis down (and fail every check open or
 * closed) because of its own backlog, not Redis's.
 */
import { ReplyError } from 'ioredis'
import type { Clock } from '../../core/clock.ts'
import { systemClock } from '../../core/clock.ts'
import { GatewayError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'

export type RedisFailureMode = 'open' | 'closed'

export type RedisGuardStatus = {
  mode: RedisFailureMode
  timeoutMs: number
  available: boolean
  /** Epoch ms of the last change between available and unavailable (the guard's creation at first). */
  since: number
  /** Operations answered by the fallback in the current incident; 0 while available. */
  failedOperations: number
  /** Incidents since the guard was created. */
  incidents: number
  /** Why the current (or last) incident started: `timeout after 50 ms`, `ECONNREFUSED`... */
  lastError: string | null
}

export type RedisGuardOptions = {
  mode: RedisFailureMode
  logger: Logger
  /** Per operation; 50 ms by default. */
  timeoutMs?: number
  /** While unavailable, the least time between two probes; 1 s by default. */
  probeIntervalMs?: number
  /** For the timers and the incident times. */
  clock?: Clock
  /**
   * What the incident's warning says instead of the limits' wording: a guard of another store's own (the prompt
   * cache's, which always goes upstream when Redis is away).
   */
  outageMessage?: string
  /** Names the guard's store in the line that ends an incident (`prompt cache`). */
  subject?: string
  /**
   * Runs `callback` once the current event-loop turn's work is done, where the timeout's clock starts;
   * `setImmediate` by default (tests with a fake clock pass one of their own).
   */
  afterTurn?: (callback: () => void) => void
}

export const defaultRedisTimeoutMs = 50

export const defaultProbeIntervalMs = 1_000

/**
 * Replies with which Redis says it cannot serve now (loading its data, a script running too long, out of memory, a
 * replica without its master): an outage like a closed socket. Any other error reply is a bug in the caller and is
 * thrown, not hidden behind the fallback.
 */
const unavailableReplies =
  /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|OOM|NOREPLICAS)\b/

const isOutage = (error: unknown): boolean =>
  !(error instanceof ReplyError) || unavailableReplies.test((error as Error).message)

const describe = (error: unknown): string =>
  (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error))

class RedisTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`timeout after ${timeoutMs} ms`)
  }
}

/** The error a fail-closed store throws: the limits of `what` cannot be checked, so the request is refused. */
export const sharedStoreUnavailable = (what: string): GatewayError =>
  new GatewayError(
    'unavailable',
    `${what} cannot be checked right now (the shared store does not answer), so the request is refused. Retry shortly.`,
    { retryAfterMs: 1_000 }
  )

export class RedisGuard {
  readonly mode: RedisFailureMode
  readonly timeoutMs: number
  readonly probeIntervalMs: number
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly outageMessage: string | undefined
  private readonly subject: string | undefined
  private readonly afterTurn: (callback: () => void) => void
  private available = true
  private probing = false
  private nextProbeAt = 0
  private since: number
  private failedOperations = 0
  private incidents = 0
  private lastError: string | null = null
  private readonly recoverListeners: (() => void)[] = []

  constructor(options: RedisGuardOptions) {
    this.mode = options.mode
    this.timeoutMs = options.timeoutMs ?? defaultRedisTimeoutMs
    this.probeIntervalMs = options.probeIntervalMs ?? defaultProbeIntervalMs
    this.logger = options.logger
    this.clock = options.clock ?? systemClock
    this.outageMessage = options.outageMessage
    this.subject = options.subject
    this.afterTurn = options.afterTurn ?? setImmediate
    this.since = this.clock.now()
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${this.timeoutMs}`)
  }

  /**
   * Runs `work` (one Redis round trip) within the timeout. When Redis is unavailable, returns `onFailure(mode)`
   * instead: a fallback value, or a thrown error under fail-closed. `operation` names it in the incident's log line.
   */
  async run<T>(
    operation: string,
    work: () => Promise<T>,
    onFailure: (mode: RedisFailureMode) => T
  ): Promise<T> {
    if (!this.available && (this.probing || this.clock.now() < this.nextProbeAt)) {
      this.failedOperations += 1
      return onFailure(this.mode)
    }
    const probe = !this.available
    if (probe) this.probing = true
    try {
      const value = await this.withinTimeout(work)
      if (!this.available) this.recover()
      return value
    } catch (error) {
      if (!isOutage(error)) {
        if (!this.available) this.recover()
        throw error
      }
      this.fail(operation, error)
      return onFailure(this.mode)
    } finally {
      if (probe) this.probing = false
    }
  }

  /**
   * `run` for a write that takes something (a lease, a reservation) and may still reach Redis after losing the race:
   * `cancel` is then sent right behind it, on the same connection and so in order, so a slow Redis does not leave
   * what it took held for its TTL. Answers `null` when failing open; throws `sharedStoreUnavailable(what)` when closed.
   */
  async runCancellable<T>(
    operation: string,
    what: string,
    work: () => Promise<T>,
    cancel: () => Promise<unknown>
  ): Promise<T | null> {
    let sent = false
    return this.run<T | null>(
      operation,
      () => {
        sent = true
        return work()
      },
      (mode) => {
        if (sent) cancel().catch(() => {})
        if (mode === 'closed') throw sharedStoreUnavailable(what)
        return null
      }
    )
  }

  /**
   * Calls `listener` after each incident ends (the turn after the probe that found Redis back): for work the
   * fallback left undone that must still reach Redis, such as the concurrency slots of requests that ended meanwhile.
   */
  onRecover(listener: () => void): void {
    this.recoverListeners.push(listener)
  }

  status(): RedisGuardStatus {
    return {
      mode: this.mode,
      timeoutMs: this.timeoutMs,
      available: this.available,
      since: this.since,
      failedOperations: this.failedOperations,
      incidents: this.incidents,
      lastError: this.lastError,
    }
  }

  private withinTimeout<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let pending: Promise<T>
      try {
        pending = work()
      } catch (error) {
        reject(error)
        return
      }
      let settled = false
      let timer: unknown = null
      // From the end of this turn, once the command has left (its cork, if any, was set before this callback).
      this.afterTurn(() => {
        if (settled) return
        timer = this.clock.setTimeout(() => {
          // One more turn: the loop reads the sockets (and Redis's answer, when it came) before the next timers run
          // (1 ms, Node's least delay, so that this timer is not run in the same pass as the one that set it).
          timer = this.clock.setTimeout(() => reject(new RedisTimeout(this.timeoutMs)), 1)
        }, this.timeoutMs)
      })
      const settle = (): void => {
        settled = true
        if (timer !== null) this.clock.clearTimeout(timer)
      }
      pending.then(
        (value) => {
          settle()
          resolve(value)
        },
        (error: unknown) => {
          settle()
          reject(error)
        }
      )
    })
  }

  private fail(operation: string, error: unknown): void {
    this.failedOperations += 1
    this.nextProbeAt = this.clock.now() + this.probeIntervalMs
    if (!this.available) return
    this.available = false
    this.since = this.clock.now()
    this.incidents += 1
    this.lastError = describe(error)
    this.logger.warn(
      { operation, error: this.lastError, mode: this.mode, timeoutMs: this.timeoutMs },
      this.outageMessage ??
        (this.mode === 'open'
          ? 'Redis is unavailable: failing open (rate limits and budgets are not enforced) until it answers again'
          : 'Redis is unavailable: failing closed (limited requests are refused with 503) until it answers again')
    )
  }

  private recover(): void {
    const now = this.clock.now()
    this.logger.info(
      { downMs: now - this.since, failedOperations: this.failedOperations, mode: this.mode },
      this.subject === undefined
        ? 'Redis is available again'
        : `Redis is available again (${this.subject})`
    )
    this.available = true
    this.since = now
    this.failedOperations = 0
    for (const listener of this.recoverListeners) this.afterTurn(listener)
  }
}
