/**
 * The request's time budget and the abort signals derived from it. One `Deadline` spans the whole call (every
 * target, every retry, and the stream after its first byte); each upstream attempt gets its own `AttemptScope`,
 * chained to it, that also fires when the first byte is late. The abort reason is always a `ProviderError`, so
 * whoever sees the abort knows whether the client left (`aborted`, 499) or time ran out (`timeout`, 504).
 */
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { Clock } from './clock.ts'

export type Deadline = {
  /** Epoch ms at which the call times out. */
  readonly at: number
  /** Aborts when the client disconnects or the deadline passes. */
  readonly signal: AbortSignal
  remaining(): number
  /** Clears the timer and detaches from the client signal; the signal never fires afterwards. */
  dispose(): void
}

export const clientClosedError = (cause?: unknown): ProviderError =>
  new ProviderError({ kind: 'aborted', status: 499, message: 'The client closed the request.', retryable: false, cause })

export const createDeadline = (options: { clock: Clock; totalMs: number; signal: AbortSignal }): Deadline => {
  const { clock, totalMs, signal } = options
  const controller = new AbortController()
  const at = clock.now() + totalMs
  let disposed = false
  const detach = (): void => {
    clock.clearTimeout(timer)
    signal.removeEventListener('abort', onClientAbort)
  }
  const onClientAbort = (): void => {
    detach()
    controller.abort(clientClosedError(signal.reason))
  }
  const timer = clock.setTimeout(() => {
    signal.removeEventListener('abort', onClientAbort)
    controller.abort(
      new ProviderError({
        kind: 'timeout',
        status: 504,
        message: `The request did not complete within its total timeout of ${totalMs} ms.`,
        retryable: false,
      }),
    )
  }, totalMs)
  if (signal.aborted) onClientAbort()
  else signal.addEventListener('abort', onClientAbort, { once: true })
  return {
    at,
    signal: controller.signal,
    remaining: () => at - clock.now(),
    dispose: () => {
      if (disposed) return
      disposed = true
      detach()
    },
  }
}

export type AttemptScope = {
  /** Passed to the adapter: fires on the deadline's abort or when the first byte is late. */
  readonly signal: AbortSignal
  /** Stops the first-byte timer; the scope stays chained to the deadline (client abort still reaches upstream). */
  firstByteReceived(): void
  /**
   * Settles with `promise`, or rejects with the abort reason as soon as the scope aborts, even when the adapter
   * ignores its signal. A value that arrives too late goes to `discard` (e.g. to cancel a body nobody will read).
   */
  race<T>(promise: Promise<T>, discard?: (value: T) => void): Promise<T>
  dispose(): void
}

export const createAttemptScope = (options: {
  clock: Clock
  parent: AbortSignal
  firstByteMs: number
  providerId: string
}): AttemptScope => {
  const { clock, parent, firstByteMs, providerId } = options
  const controller = new AbortController()
  let timer: unknown = null
  const clearTimer = (): void => {
    if (timer === null) return
    clock.clearTimeout(timer)
    timer = null
  }
  const onParentAbort = (): void => {
    clearTimer()
    controller.abort(parent.reason)
  }
  if (parent.aborted) {
    controller.abort(parent.reason)
  } else {
    parent.addEventListener('abort', onParentAbort, { once: true })
    timer = clock.setTimeout(() => {
      timer = null
      controller.abort(
        new ProviderError({
          kind: 'timeout',
          status: 504,
          message: `Provider "${providerId}" sent no response within ${firstByteMs} ms.`,
          retryable: true,
          providerId,
        }),
      )
    }, firstByteMs)
  }
  const signal = controller.signal
  return {
    signal,
    firstByteReceived: clearTimer,
    race: <T>(promise: Promise<T>, discard?: (value: T) => void): Promise<T> => {
      if (signal.aborted) {
        promise.then(discard, () => {})
        return Promise.reject(signal.reason)
      }
      return new Promise<T>((resolve, reject) => {
        let settled = false
        const onAbort = (): void => {
          settled = true
          reject(signal.reason)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        promise.then(
          (value) => {
            signal.removeEventListener('abort', onAbort)
            if (settled) discard?.(value)
            else resolve(value)
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort)
            if (!settled) reject(error)
          },
        )
      })
    },
    dispose: () => {
      clearTimer()
      parent.removeEventListener('abort', onParentAbort)
    },
  }
}
