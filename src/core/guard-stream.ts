/**
 * Streams after the first byte: retry and fallback are over (ARCHITECTURE.md house rule 7), so a stall or the end of
 * the time budget ends the stream with a `ProviderError` the encoders turn into an in-band error event, and the
 * upstream is cancelled so its connection goes back to the pool.
 */
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { Clock } from './clock.ts'
import type { AttemptScope } from './deadline.ts'

/**
 * Reads the first chunk of `stream`, giving up when `signal` aborts (first-byte timeout, deadline, client gone).
 * Gating on it keeps retry and fallback possible until the upstream has really started to answer.
 */
export const peekFirstChunk = async <T>(options: {
  stream: ReadableStream<T>
  scope: Pick<AttemptScope, 'race' | 'signal'>
}): Promise<{ reader: ReadableStreamDefaultReader<T>; first: ReadableStreamReadResult<T> }> => {
  const { stream, scope } = options
  const reader = stream.getReader()
  try {
    const first = await scope.race(reader.read())
    return { reader, first }
  } catch (error) {
    reader.cancel(scope.signal.aborted ? scope.signal.reason : error).catch(() => {})
    throw error
  }
}

export type GuardStreamOptions<T> = {
  reader: ReadableStreamDefaultReader<T>
  /** A chunk already read by `peekFirstChunk`, replayed before the rest. */
  first?: ReadableStreamReadResult<T>
  clock: Clock
  /** Longest wait for the next chunk while the consumer is asking for one. */
  idleMs: number
  /** Its abort (client gone, total deadline) errors the stream with the signal's reason. */
  signal: AbortSignal
  providerId: string
  /** Called once when the stream ends, errors or is cancelled: release timers and listeners there. */
  onEnd?: () => void
}

export const guardStream = <T>(options: GuardStreamOptions<T>): ReadableStream<T> => {
  const { reader, clock, idleMs, signal, providerId, onEnd } = options
  let replay = options.first
  let finished = false
  let idleTimer: unknown = null
  let onAbort: (() => void) | null = null

  const clearIdle = (): void => {
    if (idleTimer === null) return
    clock.clearTimeout(idleTimer)
    idleTimer = null
  }
  const finish = (): void => {
    finished = true
    clearIdle()
    if (onAbort) signal.removeEventListener('abort', onAbort)
    onEnd?.()
  }
  const fail = (controller: ReadableStreamDefaultController<T>, error: unknown): void => {
    if (finished) return
    finish()
    controller.error(error)
    reader.cancel(error).catch(() => {})
  }

  return new ReadableStream<T>(
    {
      start(controller) {
        onAbort = () => fail(controller, signal.reason)
        if (signal.aborted) fail(controller, signal.reason)
        else signal.addEventListener('abort', onAbort, { once: true })
      },
      pull(controller) {
        if (finished) return
        if (replay) {
          const chunk = replay
          replay = undefined
          if (chunk.done) {
            finish()
            controller.close()
          } else {
            controller.enqueue(chunk.value)
          }
          return
        }
        return new Promise<void>((resolve) => {
          idleTimer = clock.setTimeout(() => {
            idleTimer = null
            fail(
              controller,
              new ProviderError({
                kind: 'timeout',
                status: 504,
                message: `Provider "${providerId}" sent nothing for ${idleMs} ms; the stream was ended.`,
                retryable: false,
                providerId,
              }),
            )
            resolve()
          }, idleMs)
          reader.read().then(
            (result) => {
              clearIdle()
              if (!finished) {
                if (result.done) {
                  finish()
                  controller.close()
                } else {
                  controller.enqueue(result.value)
                }
              }
              resolve()
            },
            (error: unknown) => {
              clearIdle()
              fail(controller, signal.aborted ? signal.reason : error)
              resolve()
            },
          )
        })
      },
      cancel(reason) {
        if (finished) return
        finish()
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}
