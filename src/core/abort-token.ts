/**
 * A lighter `AbortSignal` for the request path. On Node 20 an `AbortController` costs about 3 µs and 3 KB to create,
 * and each listener as much again (undici adds two per request); a request used to make three. This one is a flag, a
 * reason and a short listener list, and it satisfies `AbortHandle`, which is all adapters and transports read (undici
 * accepts any object with `addEventListener`; the fetch transport turns it into a real signal).
 */
import type { AbortHandle } from '../../providers/spec/provider-adapter.ts'

export type AbortToken = AbortHandle & {
  /** Aborts with `reason` and calls every listener once; later calls do nothing. */
  abort(reason: unknown): void
}

/**
 * A class, not an object literal with getters: a literal with accessors gets a hidden class of its own each time it
 * is evaluated, allocated in old space, which then keeps the token and what its listeners hold alive through every
 * young-generation GC until the next full one (measured: most of the gateway's promoted garbage).
 */
class Token implements AbortToken {
  aborted = false
  reason: unknown = undefined
  #listeners: (() => void)[] | null = null

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return
    ;(this.#listeners ??= []).push(listener)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.#listeners
    if (listeners === null) return
    const index = listeners.indexOf(listener)
    if (index !== -1) listeners.splice(index, 1)
  }

  abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    const calling = this.#listeners
    this.#listeners = null
    if (calling !== null) for (const listener of calling) listener()
  }
}

export const createAbortToken = (): AbortToken => new Token()

/** A real `AbortSignal` that follows `handle`, for APIs that need one (`fetch`). `handle` itself when it is one. */
export const toAbortSignal = (handle: AbortHandle): AbortSignal => {
  if (handle instanceof AbortSignal) return handle
  const controller = new AbortController()
  if (handle.aborted) controller.abort(handle.reason)
  else handle.addEventListener('abort', () => controller.abort(handle.reason), { once: true })
  return controller.signal
}
