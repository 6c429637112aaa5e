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

export const clientClosedError = (cause?: unknown): ProviderError =>
  new ProviderError({
    kind: 'aborted',
    status: 499,
    message: 'The client closed the request.',
    retryable: false,
    cause,
  })

type Scope = AttemptScope & { abort(reason: ProviderError): void }

const createScope = (options: {
  clock: Clock
  firstByteMs: number
  providerId: string
  onDispose?: (scope: Scope) => void
}): Scope => {
  const { clock, firstByteMs, providerId, onDispose } = options
  const signal = createAbortToken()
  let waiters: ((reason: unknown) => void)[] = []
  let timer: unknown = null
  let disposed = false
  const clearTimer = (): void => {
    if (timer === null) return
    clock.clearTimeout(timer)
    timer = null
  }
  const abort = (reason: ProviderError): void => {
    if (disposed || signal.aborted) return
    clearTimer()
    signal.abort(reason)
    const rejecting = waiters
    waiters = []
    for (const reject of rejecting) reject(reason)
  }
  timer = clock.setTimeout(() => {
    timer = null
    abort(
      new ProviderError({
        kind: 'timeout',
        status: 504,
        message: `Provider "${providerId}" sent no response within ${firstByteMs} ms.`,
        retryable: true,
        providerId,
      })
    )
  }, firstByteMs)
  const scope: Scope = {
    signal,
    abort,
    firstByteReceived: clearTimer,
    race: <T>(promise: Promise<T>, discard?: (value: T) => void): Promise<T> => {
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
        waiters.push(onAbort)
        const forget = (): void => {
          const index = waiters.indexOf(onAbort)
          if (index !== -1) waiters.splice(index, 1)
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
    },
    dispose: () => {
      if (disposed) return
      disposed = true
      clearTimer()
      waiters = []
      onDispose?.(scope)
    },
  }
  return scope
}

/** An attempt scope with no deadline above it (a background fetch with its own time limit). */
export const createAttemptScope = (options: {
  clock: Clock
  firstByteMs: number
  providerId: string
}): AttemptScope => createScope(options)

export const createDeadline = (options: {
  clock: Clock
  totalMs: number
  signal: AbortHandle
}): Deadline => {
  const { clock, totalMs, signal: clientSignal } = options
  const at = clock.now() + totalMs
  let controller: AbortController | undefined
  let current: Scope | null = null
  let disposed = false

  const detach = (): void => {
    clock.clearTimeout(timer)
    clientSignal.removeEventListener('abort', onClientAbort)
  }
  const abort = (why: ProviderError): void => {
    if (disposed || deadline.reason !== undefined) return
    deadline.reason = why
    detach()
    current?.abort(why)
    controller?.abort(why)
  }
  const onClientAbort = (): void => abort(clientClosedError(clientSignal.reason))
  const timer = clock.setTimeout(
    () =>
      abort(
        new ProviderError({
          kind: 'timeout',
          status: 504,
          message: `The request did not complete within its total timeout of ${totalMs} ms.`,
          retryable: false,
        })
      ),
    totalMs
  )
  const release = (scope: Scope): void => {
    if (current === scope) current = null
  }

  // Data properties and methods only: an object literal with getters would get a hidden class of its own per request,
  // in old space, and keep this deadline's closures alive through young-generation GCs (see abort-token.ts).
  const deadline: { -readonly [K in keyof Deadline]: Deadline[K] } = {
    at,
    reason: undefined,
    abortSignal: () => {
      if (controller === undefined) {
        controller = new AbortController()
        if (deadline.reason !== undefined) controller.abort(deadline.reason)
      }
      return controller.signal
    },
    remaining: () => at - clock.now(),
    startAttempt: ({ firstByteMs, providerId }) => {
      const scope = createScope({ clock, firstByteMs, providerId, onDispose: release })
      if (deadline.reason !== undefined) scope.abort(deadline.reason)
      else current = scope
      return scope
    },
    dispose: () => {
      if (disposed) return
      disposed = true
      detach()
      current = null
    },
  }
  if (clientSignal.aborted) onClientAbort()
  else clientSignal.addEventListener('abort', onClientAbort, { once: true })
  return deadline
}
