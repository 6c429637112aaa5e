/**
 * One circuit breaker per (provider instance, upstream model): stop sending traffic to a target that keeps failing,
 * probe it once after a pause, and back off further while the probes fail. Defaults and reasons: ARCHITECTURE.md
 * "Spine decisions", `defaultCircuitBreaker` in resolve-config.ts. State is per process (per isolate on Workers).
 */
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { Clock } from './clock.ts'
import type { CircuitBreakerPolicy } from './resolve-config.ts'

export type BreakerState = 'closed' | 'open' | 'half-open'

/**
 * How an attempt ended, for the breaker: `failure` = the upstream is unwell (connection, timeout, 5xx, unreadable
 * answer); `success` = it answered (any other status, 4xx included); `aborted` = the client left, which says nothing.
 */
export type BreakerOutcome = 'success' | 'failure' | 'aborted'

export type BreakerPermit = {
  /** This attempt is the half-open probe whose outcome closes or re-opens the breaker. */
  readonly probe: boolean
  /** Reports the attempt's outcome; only the first call counts. */
  settle(outcome: BreakerOutcome): void
}

export type BreakerSnapshot = {
  key: string
  provider: string
  model: string
  state: BreakerState
  /** Failures among the calls in the current window. */
  failures: number
  calls: number
  openedAt: number | null
  /** When the next half-open probe may go (open state). */
  retryAt: number | null
  /** A 429's `retry-after` keeps the target out of rotation until then, without counting as a failure. */
  cooldownUntil: number | null
}

export interface CircuitBreaker {
  /**
   * Asks to send one attempt to `provider`/`model`. `null` = open (or cooling down, or a probe is already out): the
   * attempt must not be made. `force` ignores that (every target is open, so the oldest is tried anyway).
   */
  acquire(target: { provider: string; model: string; force?: boolean }): BreakerPermit | null
  /** An attempt settled as a success failed afterwards (a stream that broke after its first byte): count it as failed. */
  recordFailure(target: { provider: string; model: string }): void
  /** Keeps the target out of rotation for `ms` after a 429. */
  cooldown(target: { provider: string; model: string; ms: number }): void
  /** Since when the target has been blocked (open or cooling down); `null` when it is available. */
  blockedSince(target: { provider: string; model: string }): number | null
  snapshot(): BreakerSnapshot[]
}

/** Connection errors, timeouts, 5xx and unreadable 2xx answers count against the upstream; client-side 4xx do not. */
export const breakerOutcomeOf = (error: unknown): BreakerOutcome => {
  if (!(error instanceof ProviderError)) return 'failure'
  switch (error.kind) {
    case 'aborted':
      return 'aborted'
    case 'connection':
    case 'timeout':
    case 'bad-response':
      return 'failure'
    case 'http':
      return error.status >= 500 ? 'failure' : 'success'
    case 'unsupported':
      return 'success'
  }
}

/**
 * The outcomes of a target's last calls, in a ring of up to `windowSize` slots: when and whether each failed. Every
 * attempt records one, so they are kept in two typed arrays rather than as an object per outcome in an array shifted
 * from its front.
 */
class Window {
  #at: Float64Array
  #failed: Uint8Array
  /** Where the oldest outcome is. */
  #first = 0
  length = 0
  readonly #size: number

  /** Room for `size` outcomes, allocated as they come (a window of thousands costs nothing until it is used). */
  constructor(size: number) {
    this.#size = size
    const capacity = Math.min(size, 32)
    this.#at = new Float64Array(capacity)
    this.#failed = new Uint8Array(capacity)
  }

  #slot(index: number): number {
    return (this.#first + index) % this.#at.length
  }

  /** The `index`-th outcome from the oldest: when it was recorded, and whether it failed. */
  at(index: number): number {
    return this.#at[this.#slot(index)]
  }

  failed(index: number): boolean {
    return this.#failed[this.#slot(index)] === 1
  }

  /** Records an outcome; the window must have room for it (`dropOldest` first when it holds `size`). */
  push(at: number, failed: boolean): void {
    if (this.length === this.#at.length) this.#grow()
    const slot = this.#slot(this.length)
    this.#at[slot] = at
    this.#failed[slot] = failed ? 1 : 0
    this.length += 1
  }

  /** Marks the `index`-th outcome from the oldest as failed. */
  fail(index: number): void {
    this.#failed[this.#slot(index)] = 1
  }

  /** Drops the oldest outcome; answers whether it had failed. */
  dropOldest(): boolean {
    const failed = this.#failed[this.#first] === 1
    this.#first = (this.#first + 1) % this.#at.length
    this.length -= 1
    return failed
  }

  clear(): void {
    this.#first = 0
    this.length = 0
  }

  #grow(): void {
    const capacity = Math.min(this.#size, this.#at.length * 2)
    const at = new Float64Array(capacity)
    const failed = new Uint8Array(capacity)
    for (let index = 0; index < this.length; index += 1) {
      at[index] = this.at(index)
      failed[index] = this.#failed[this.#slot(index)]
    }
    this.#at = at
    this.#failed = failed
    this.#first = 0
  }
}

type Entry = {
  provider: string
  model: string
  state: BreakerState
  /** The window's last outcomes (at most `windowSize`), oldest first. */
  outcomes: Window
  /** How many of `outcomes` failed. */
  failures: number
  openedAt: number | null
  openPeriodMs: number
  probing: boolean
  cooldownSince: number | null
  cooldownUntil: number | null
}

/** Above this many entries, closed and idle ones are dropped (model names come from clients). */
const sweepThreshold = 1_000

const noopPermit: BreakerPermit = { probe: false, settle: () => {} }

export type BreakerChange = {
  provider: string
  model: string
  from: BreakerState
  to: BreakerState
}

export const createCircuitBreaker = (options: {
  policy: CircuitBreakerPolicy
  clock: Clock
  /** Every change of state (metrics, logs); called synchronously, after the change. */
  onChange?: (change: BreakerChange) => void
}): CircuitBreaker => {
  const { policy, clock } = options
  /**
   * By provider, then model: two lookups of names the route already holds, rather than one of a `provider/model` key
   * made (and hashed) anew on every attempt.
   */
  const entries = new Map<string, Map<string, Entry>>()
  let entryCount = 0
  const keyOf = (provider: string, model: string): string => `${provider}/${model}`

  /** Drops what fell out of the window, in place: this runs on every attempt, so it allocates nothing. */
  const prune = (entry: Entry, now: number): void => {
    const outcomes = entry.outcomes
    while (outcomes.length > 0 && now - outcomes.at(0) >= policy.windowMs)
      if (outcomes.dropOldest()) entry.failures -= 1
  }
  const sweep = (now: number): void => {
    if (entryCount <= sweepThreshold) return
    for (const [provider, byModel] of entries) {
      for (const [model, entry] of byModel) {
        prune(entry, now)
        const cooling = entry.cooldownUntil !== null && entry.cooldownUntil > now
        if (entry.state === 'closed' && entry.outcomes.length === 0 && !cooling) {
          byModel.delete(model)
          entryCount -= 1
        }
      }
      if (byModel.size === 0) entries.delete(provider)
    }
  }
  const existingEntry = (provider: string, model: string): Entry | undefined =>
    entries.get(provider)?.get(model)
  const entryFor = (provider: string, model: string): Entry => {
    let entry = existingEntry(provider, model)
    if (!entry) {
      sweep(clock.now())
      entry = {
        provider,
        model,
        state: 'closed',
        outcomes: new Window(policy.windowSize),
        failures: 0,
        openedAt: null,
        openPeriodMs: policy.openMs,
        probing: false,
        cooldownSince: null,
        cooldownUntil: null,
      }
      let byModel = entries.get(provider)
      if (byModel === undefined) entries.set(provider, (byModel = new Map()))
      byModel.set(model, entry)
      entryCount += 1
    }
    return entry
  }
  const moveTo = (entry: Entry, to: BreakerState): void => {
    const from = entry.state
    entry.state = to
    if (from !== to) options.onChange?.({ provider: entry.provider, model: entry.model, from, to })
  }
  const open = (entry: Entry, now: number, periodMs: number): void => {
    moveTo(entry, 'open')
    entry.openedAt = now
    entry.openPeriodMs = Math.min(periodMs, policy.maxOpenMs)
    entry.probing = false
  }
  const settleProbe = (entry: Entry, outcome: BreakerOutcome): void => {
    entry.probing = false
    if (outcome === 'aborted') return
    if (outcome === 'failure') {
      open(entry, clock.now(), entry.openPeriodMs * 2)
      return
    }
    moveTo(entry, 'closed')
    entry.outcomes.clear()
    entry.failures = 0
    entry.openedAt = null
    entry.openPeriodMs = policy.openMs
  }
  const record = (entry: Entry, outcome: BreakerOutcome): void => {
    if (outcome === 'aborted' || entry.state !== 'closed') return
    const now = clock.now()
    const failed = outcome === 'failure'
    prune(entry, now)
    if (entry.outcomes.length === policy.windowSize && entry.outcomes.dropOldest())
      entry.failures -= 1
    entry.outcomes.push(now, failed)
    if (failed) entry.failures += 1
    if (failed) tripIfDue(entry, now)
  }
  const tripIfDue = (entry: Entry, now: number): void => {
    const failures = entry.failures
    if (failures >= policy.minFailures && failures / entry.outcomes.length >= policy.failureRatio) {
      open(entry, now, policy.openMs)
    }
  }
  /**
   * A call recorded as a success at its first byte failed afterwards (its stream broke): one success of the window
   * becomes a failure, so that the call counts once, as what it was.
   */
  const recordLateFailure = (entry: Entry): void => {
    if (entry.state !== 'closed') return
    const now = clock.now()
    prune(entry, now)
    const outcomes = entry.outcomes
    for (let index = outcomes.length - 1; index >= 0; index -= 1) {
      if (outcomes.failed(index)) continue
      outcomes.fail(index)
      entry.failures += 1
      tripIfDue(entry, now)
      return
    }
    record(entry, 'failure')
  }
  const permit = (entry: Entry, probe: boolean): BreakerPermit => {
    let settled = false
    return {
      probe,
      settle: (outcome) => {
        if (settled) return
        settled = true
        if (probe) settleProbe(entry, outcome)
        else record(entry, outcome)
      },
    }
  }

  if (!policy.enabled) {
    return {
      acquire: () => noopPermit,
      recordFailure: () => {},
      cooldown: () => {},
      blockedSince: () => null,
      snapshot: () => [],
    }
  }

  return {
    acquire: ({ provider, model, force = false }) => {
      const entry = entryFor(provider, model)
      const now = clock.now()
      if (!force && entry.cooldownUntil !== null && now < entry.cooldownUntil) return null
      if (entry.state === 'closed') return permit(entry, false)
      const due = entry.state === 'half-open' || now >= (entry.openedAt ?? 0) + entry.openPeriodMs
      if (force || (due && !entry.probing)) {
        moveTo(entry, 'half-open')
        entry.probing = true
        return permit(entry, true)
      }
      return null
    },
    recordFailure: ({ provider, model }) => recordLateFailure(entryFor(provider, model)),
    cooldown: ({ provider, model, ms }) => {
      const entry = entryFor(provider, model)
      const now = clock.now()
      const until = now + ms
      if (entry.cooldownUntil === null || entry.cooldownUntil <= now) entry.cooldownSince = now
      entry.cooldownUntil = Math.max(entry.cooldownUntil ?? 0, until)
    },
    blockedSince: ({ provider, model }) => {
      const entry = existingEntry(provider, model)
      if (!entry) return null
      const now = clock.now()
      const since: number[] = []
      if (entry.state !== 'closed' && entry.openedAt !== null) since.push(entry.openedAt)
      if (
        entry.cooldownUntil !== null &&
        now < entry.cooldownUntil &&
        entry.cooldownSince !== null
      ) {
        since.push(entry.cooldownSince)
      }
      return since.length === 0 ? null : Math.min(...since)
    },
    snapshot: () => {
      const now = clock.now()
      return [...entries.values()]
        .flatMap((byModel) => [...byModel.values()])
        .map((entry) => {
          prune(entry, now)
          return {
            key: keyOf(entry.provider, entry.model),
            provider: entry.provider,
            model: entry.model,
            state: entry.state,
            failures: entry.failures,
            calls: entry.outcomes.length,
            openedAt: entry.openedAt,
            retryAt:
              entry.state === 'open' && entry.openedAt !== null
                ? entry.openedAt + entry.openPeriodMs
                : null,
            cooldownUntil:
              entry.cooldownUntil !== null && entry.cooldownUntil > now
                ? entry.cooldownUntil
                : null,
          }
        })
    },
  }
}

/** Thrown (inside the executor only) when a target's breaker refuses an attempt: the executor moves on. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError'
  constructor(readonly key: string) {
    super(`The circuit breaker for ${key} is open.`)
  }
}
