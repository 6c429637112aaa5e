/**
 * The request's time budget and the abort signals derived from it. One `Deadline` spans the whole call (every
 * target, every retry, and the stream after its first byte); each upstream attempt gets its own `AttemptScope`,
 * chained to it, that also fires when the first byte is late. The abort reason is always a `ProviderError`, so
 * whoever sees the abort knows whether the client left (`aborted`, 499) or time ran out (`timeout`, 504).
 *
 * This is on every request's path, so it is built from the fewest parts: per call one timer and one listener on the
 * client's signal; per attempt one `AbortToken` (the adapter's signal, `abort-token.ts`: on Node 20 an `AbortSignal`
 * costs about 3 µs and 3 KB to create and as much per listener) and one timer. The deadline aborts its current
 * attempt by a direct call, not through a chain of listeners, and `race` rejects its waiters the same way. The
 * deadline's own `AbortSignal`, needed only while waiting between retries (p-retry), is created on first use.
 */
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { AbortHandle } from '../../providers/spec/provider-adapter.ts'
import { createAbortToken } from './abort-token.ts'
import type { Clock } from './clock.ts'

export type AttemptScope = {
  /** Passed to the adapter: fires on the deadline's abort or when the first byte is late. */
  readonly signal: AbortHandle
  /** Stops the first-byte timer; the scope stays chained to the deadline (client abort still reaches upstream). */
  firstByteReceived(): void
  /**
   * Settles with `promise`, or rejects with the abort reason as soon as the scope aborts, even when the adapter
   * ignores its signal. A value that arrives too late goes to `discard` (e.g. to cancel a body nobody will read).
   */
  race<T>(promise: Promise<T>, discard?: (value: T) => void): Promise<T>
  /** Stops the timer and unchains the scope from its deadline; its signal never fires afterwards. */
  dispose(): void
}

export type Deadline = {
  /** Epoch ms at which the call times out. */
  readonly at: number
  /** Why the call was aborted (client gone: `aborted`; out of time: `timeout`); `undefined` while it runs. */
  readonly reason: ProviderError | undefined
  /** An `AbortSignal` that aborts with `reason`, created on first call: only the waits between retries need one. */
  abortSignal(): AbortSignal
  remaining(): number
  /** A scope for one upstream attempt, aborted with the deadline. One attempt runs at a time. */
  startAttempt(options: { firstByteMs: number; providerId: string }): AttemptScope
  /** Clears the timer and detaches from the client signal; nothing fires afterwards. */
  dispose(): void
}

/**
 * Why the client's signal aborted a call: the client left (499), or a reason of the gateway's that the runtime gave
 * as the signal's (`gatewayShuttingDown`), kept as it is.
 */
export const clientClosedError = (cause?: unknown): ProviderError =>
  cause instanceof ProviderError && cause.kind === 'aborted'
    ? cause
    : new ProviderError({
        kind: 'aborted',
        status: 499,
        message: 'The client closed the request.',
        retryable: false,
        cause,
      })

/**
 * The reason a draining gateway aborts the calls still running when its time is up (`abortClientSignals` on Node): an
 * abort, not the provider's failure (no breaker counts it), answered 503 (`unavailable`) in the client's dialect, or
 * as the stream's error event, so the client retries elsewhere and the record does not say it left.
 */
export const gatewayShuttingDown = (): ProviderError =>
  new ProviderError({
    kind: 'aborted',
    status: 503,
    message: 'The gateway is shutting down: retry the request.',
    retryable: false,
  })

/**
 * An attempt's scope. Classes, not closures over shared state, here and for the deadline: both are made for every
 * request, and a stream holds them for its whole life.
 */
class Scope implements AttemptScope {
  readonly signal = createAbortToken()
  readonly #clock: Clock
  /** The deadline the scope is chained to, told when the scope is disposed. */
  readonly #owner: CallDeadline | undefined
  #waiters: ((reason: unknown) => void)[] = []
  #timer: unknown = null
  #disposed = false

  constructor(options: {
    clock: Clock
    firstByteMs: number
    providerId: string
    owner?: CallDeadline
  }) {
    const { clock, firstByteMs, providerId } = options
    this.#clock = clock
    this.#owner = options.owner
    this.#timer = clock.setTimeout(() => {
      this.#timer = null
      this.abort(
        new ProviderError({
          kind: 'timeout',
          status: 504,
          message: `Provider "${providerId}" sent no response within ${firstByteMs} ms.`,
          retryable: true,
          providerId,
        })
      )
    }, firstByteMs)
  }

  #clearTimer(): void {
    if (this.#timer === null) return
    this.#clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  abort(reason: ProviderError): void {
    if (this.#disposed || this.signal.aborted) return
    this.#clearTimer()
    this.signal.abort(reason)
    const rejecting = this.#waiters
    this.#waiters = []
    for (const reject of rejecting) reject(reason)
  }

  firstByteReceived(): void {
    this.#clearTimer()
  }

  race<T>(promise: Promise<T>, discard?: (value: T) => void): Promise<T> {
    const signal = this.signal
    if (signal.aborted) {
      promise.then(discard, () => {})
      return Promise.reject(signal.reason)
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const onAbort = (reason: unknown): void => {
        settled = true
        reject(reason)
      }
      this.#waiters.push(onAbort)
      const forget = (): void => {
        const index = this.#waiters.indexOf(onAbort)
        if (index !== -1) this.#waiters.splice(index, 1)
      }
      promise.then(
        (value) => {
          forget()
          if (settled) discard?.(value)
          else resolve(value)
        },
        (error: unknown) => {
          forget()
          if (!settled) reject(error)
        }
      )
    })
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#clearTimer()
    this.#waiters = []
    this.#owner?.release(this)
  }
}

/** An attempt scope with no deadline above it (a background fetch with its own time limit). */
export const createAttemptScope = (options: {
  clock: Clock
  firstByteMs: number
  providerId: string
}): AttemptScope => new Scope(options)

class CallDeadline implements Deadline {
  readonly at: number
  reason: ProviderError | undefined = undefined
  readonly #clock: Clock
  readonly #clientSignal: AbortHandle
  readonly #timer: unknown
  #controller: AbortController | undefined
  #current: Scope | null = null
  #disposed = false
  readonly #onClientAbort = (): void => this.#abort(clientClosedError(this.#clientSignal.reason))

  constructor(options: { clock: Clock; totalMs: number; signal: AbortHandle }) {
    const { clock, totalMs, signal: clientSignal } = options
    this.#clock = clock
    this.#clientSignal = clientSignal
    this.at = clock.now() + totalMs
    this.#timer = clock.setTimeout(
      () =>
        this.#abort(
          new ProviderError({
            kind: 'timeout',
            status: 504,
            message: `The request did not complete within its total timeout of ${totalMs} ms.`,
            retryable: false,
          })
        ),
      totalMs
    )
    if (clientSignal.aborted) this.#onClientAbort()
    else clientSignal.addEventListener('abort', this.#onClientAbort, { once: true })
  }

  #detach(): void {
    this.#clock.clearTimeout(this.#timer)
    this.#clientSignal.removeEventListener('abort', this.#onClientAbort)
  }

  #abort(why: ProviderError): void {
    if (this.#disposed || this.reason !== undefined) return
    this.reason = why
    this.#detach()
    this.#current?.abort(why)
    this.#controller?.abort(why)
  }

  abortSignal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.reason !== undefined) this.#controller.abort(this.reason)
    }
    return this.#controller.signal
  }

  remaining(): number {
    return this.at - this.#clock.now()
  }

  startAttempt({
    firstByteMs,
    providerId,
  }: {
    firstByteMs: number
    providerId: string
  }): AttemptScope {
    const scope = new Scope({
      clock: this.#clock,
      firstByteMs,
      providerId,
      owner: this,
    })
    if (this.reason !== undefined) scope.abort(this.reason)
    else this.#current = scope
    return scope
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#detach()
    this.#current = null
  }

  /** `scope` was disposed: it is no longer the attempt the deadline aborts. */
  release(scope: Scope): void {
    if (this.#current === scope) this.#current = null
  }
}

export const createDeadline = (options: {
  clock: Clock
  totalMs: number
  signal: AbortHandle
}): Deadline => new CallDeadline(options)
