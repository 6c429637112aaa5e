/**
 * Streams after the first byte: retry and fallback are over (ARCHITECTURE.md house rule 7), so a stall or the end of
 * the time budget fails the read with a `ProviderError` the encoders turn into an in-band error event, and the
 * upstream is cancelled so its connection goes back to the pool.
 */
import type {
  AbortHandle,
  ChunkReader,
  ChunkSink,
  PipeControl,
} from '../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { Clock } from './clock.ts'
import type { AttemptScope } from './deadline.ts'

/**
 * Reads the first chunk, giving up when the scope aborts (first-byte timeout, deadline, client gone). Gating on it
 * keeps retry and fallback possible until the upstream has really started to answer.
 */
export const peekFirstChunk = async <T>(options: {
  reader: ChunkReader<T>
  scope: Pick<AttemptScope, 'race' | 'signal'>
}): Promise<{ reader: ChunkReader<T>; first: ReadableStreamReadResult<T> }> => {
  const { reader, scope } = options
  try {
    const first = await scope.race(reader.read())
    return { reader, first }
  } catch (error) {
    reader.cancel(scope.signal.aborted ? scope.signal.reason : error).catch(() => {})
    throw error
  }
}

export type { ChunkReader } from '../../providers/spec/provider-adapter.ts'

export type GuardReaderOptions<T> = {
  reader: ChunkReader<T>
  /** A chunk already read by `peekFirstChunk`, replayed before the rest. */
  first?: ReadableStreamReadResult<T>
  clock: Clock
  /** Longest wait for the next chunk while the consumer is asking for one. */
  idleMs: number
  /** Its abort (client gone, total deadline) errors the reader with the signal's reason. */
  signal: AbortHandle
  providerId: string
  /** Called once when the stream ends, errors or is cancelled: release timers and listeners there. */
  onEnd?: (end: GuardedStreamEnd) => void
}

/**
 * How a guarded stream ended. `broken` with `upstreamFault` is the upstream's own failure (a broken body, an idle
 * timeout), which the circuit breaker counts; without it, the request's deadline ended the stream. `client-gone`: the
 * client's disconnect aborted it, or the consumer cancelled it.
 */
export type GuardedStreamEnd =
  | { outcome: 'completed' }
  | { outcome: 'broken'; error: unknown; upstreamFault: boolean }
  | { outcome: 'client-gone' }

const completed: GuardedStreamEnd = { outcome: 'completed' }
const clientGone: GuardedStreamEnd = { outcome: 'client-gone' }

const endOfAbort = (reason: unknown): GuardedStreamEnd =>
  reason instanceof ProviderError && reason.kind === 'aborted'
    ? clientGone
    : { outcome: 'broken', error: reason, upstreamFault: false }

/**
 * The upstream reader, guarded: a read that waits longer than `idleMs` fails with a 504 `ProviderError`, the signal's
 * abort fails the pending and every later read with its reason, and either cancels the upstream. One timer serves
 * the whole stream: each read notes when it began waiting, and the timer, armed by the first read, re-arms itself
 * for whatever is left of the wait it finds, instead of a timer set and cleared for every chunk.
 *
 * When the upstream reader can be piped, so can the guarded one: the sink is then "waiting" from each chunk it took
 * to the next, except while it has asked for a pause, and a failure (a timeout, the signal) is handed to it.
 */
export const guardReader = <T>(options: GuardReaderOptions<T>): ChunkReader<T> => {
  const { reader, clock, idleMs, signal, providerId, onEnd } = options
  let replay = options.first
  let finished = false
  let failure: { error: unknown } | null = null
  /** When the pending read began waiting; `null` when none is pending. */
  let waitingSince: number | null = null
  let timer: unknown = null
  /** The sink, once piped, until it has heard the end. */
  let piped: ChunkSink<T> | null = null

  const finish = (end: GuardedStreamEnd): void => {
    if (finished) return
    finished = true
    if (timer !== null) clock.clearTimeout(timer)
    timer = null
    signal.removeEventListener('abort', onAbort)
    onEnd?.(end)
  }
  /** Fails the reader; the upstream's cancel settles a pending read, which then rejects with `error` (below). */
  const fail = (error: unknown, upstream = false): void => {
    if (finished) return
    failure = { error }
    finish(upstream ? { outcome: 'broken', error, upstreamFault: true } : endOfAbort(error))
    reader.cancel(error).catch(() => {})
    const sink = piped
    piped = null
    sink?.error(error)
  }
  const onAbort = (): void => fail(signal.reason)
  const onTimer = (): void => {
    timer = null
    if (finished || waitingSince === null) return
    const waited = clock.now() - waitingSince
    if (waited < idleMs) {
      timer = clock.setTimeout(onTimer, idleMs - waited)
      return
    }
    fail(
      new ProviderError({
        kind: 'timeout',
        status: 504,
        message: `Provider "${providerId}" sent nothing for ${idleMs} ms; the stream was ended.`,
        retryable: false,
        providerId,
      }),
      true
    )
  }
  if (signal.aborted) fail(signal.reason)
  else signal.addEventListener('abort', onAbort, { once: true })

  // Both readers this guards (the Node transport's, a Web stream's) settle a pending read when cancelled, so no
  // promise of our own is needed around each read to reject it on a timeout or an abort.
  const onRead = (result: ReadableStreamReadResult<T>): ReadableStreamReadResult<T> => {
    waitingSince = null
    if (failure !== null) throw failure.error
    if (result.done) finish(completed)
    return result
  }
  const onReadError = (error: unknown): never => {
    waitingSince = null
    if (failure === null) {
      if (signal.aborted) fail(signal.reason)
      else fail(error, true)
    }
    throw (failure as { error: unknown } | null)?.error ?? error
  }

  const pipe = (sink: ChunkSink<T>): PipeControl => {
    let paused = false
    let upstream: PipeControl | null = null
    /** The sink waits for the next chunk from now (the timer, when it fired during a pause, is armed again). */
    const wait = (): void => {
      waitingSince = clock.now()
      if (timer === null) timer = clock.setTimeout(onTimer, idleMs)
    }
    /** A chunk for the sink; its answer decides whether it is now waiting for the next. */
    const deliver = (chunk: T): boolean => {
      paused = !sink.write(chunk)
      if (paused) waitingSince = null
      else if (piped === sink) wait()
      return !paused
    }
    const control: PipeControl = {
      resume: () => {
        if (!paused || piped !== sink) return
        paused = false
        wait()
        upstream?.resume()
      },
    }
    if (failure !== null) {
      sink.error(failure.error)
      return control
    }
    const chunk = replay
    replay = undefined
    if (finished || chunk?.done === true) {
      finish(completed)
      sink.close()
      return control
    }
    piped = sink
    if (chunk !== undefined) deliver(chunk.value)
    else wait()
    if (piped !== sink) return control
    upstream = reader.pipe!({
      write: (value) => (piped === sink ? deliver(value) : true),
      close: () => {
        if (piped !== sink) return
        piped = null
        waitingSince = null
        finish(completed)
        sink.close()
      },
      error: (error) => {
        if (piped !== sink) return
        waitingSince = null
        if (signal.aborted) fail(signal.reason)
        else fail(error, true)
      },
    })
    return control
  }

  return {
    pipe: reader.pipe === undefined ? undefined : pipe,
    read: () => {
      if (failure !== null) return Promise.reject(failure.error)
      if (replay !== undefined) {
        const chunk = replay
        replay = undefined
        if (chunk.done) finish(completed)
        return Promise.resolve(chunk)
      }
      if (finished) return Promise.resolve({ done: true, value: undefined })
      waitingSince = clock.now()
      if (timer === null) timer = clock.setTimeout(onTimer, idleMs)
      return reader.read().then(onRead, onReadError)
    },
    cancel: async (reason) => {
      piped = null
      if (finished) return
      finish(clientGone)
      // The consumer is leaving: an upstream that already failed has nothing left to tell it.
      await reader.cancel(reason).catch(() => {})
    },
  }
}
