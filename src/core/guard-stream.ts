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
  /**
   * Asked when the upstream's body ends cleanly, where something knows its format (a forwarded stream's taps): a
   * failure makes that end the upstream's fault. `fail`: the read fails with it (the body stopped before its format's
   * end; the client is told in-band, as of any broken stream); `report`: the body said it failed itself (an in-band
   * error the client has as it came), so it ends as it is, and only the end is reported broken (the breaker counts).
   */
  judgeEnd?: () => { fail: ProviderError } | { report: ProviderError } | null
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
export const guardReader = <T>(options: GuardReaderOptions<T>): ChunkReader<T> =>
  new GuardedReader(options)

/**
 * `guardReader`'s reader. A class, not closures over shared state: a stream holds its guard for its whole life, and
 * the fifteen closures and two contexts of the function this replaced outlived the young generation with it.
 */
class GuardedReader<T> implements ChunkReader<T> {
  readonly #reader: ChunkReader<T>
  readonly #clock: Clock
  readonly #idleMs: number
  readonly #signal: AbortHandle
  readonly #providerId: string
  readonly #onEnd: ((end: GuardedStreamEnd) => void) | undefined
  readonly #judgeEnd: GuardReaderOptions<T>['judgeEnd']
  #replay: ReadableStreamReadResult<T> | undefined
  #finished = false
  #failure: { error: unknown } | null = null
  /** When the pending read (or the piped sink) began waiting; `null` when none is waiting. */
  #waitingSince: number | null = null
  #timer: unknown = null
  /** The sink, once piped, until it has heard the end. */
  #piped: GuardedSink<T> | null = null
  /** Present when the upstream reader can be piped (`ChunkReader.pipe`). */
  readonly pipe: ((sink: ChunkSink<T>) => PipeControl) | undefined
  /** A pulled read's reactions, made on the first read (a piped stream never reads). */
  #onRead: ((result: ReadableStreamReadResult<T>) => ReadableStreamReadResult<T>) | undefined
  #onReadError: ((error: unknown) => never) | undefined
  readonly #onAbort = (): void => this.fail(this.#signal.reason)
  readonly #onTimer = (): void => {
    this.#timer = null
    if (this.#finished || this.#waitingSince === null) return
    const waited = this.#clock.now() - this.#waitingSince
    if (waited < this.#idleMs) {
      this.#timer = this.#clock.setTimeout(this.#onTimer, this.#idleMs - waited)
      return
    }
    this.fail(
      new ProviderError({
        kind: 'timeout',
        status: 504,
        message: `Provider "${this.#providerId}" sent nothing for ${this.#idleMs} ms; the stream was ended.`,
        retryable: false,
        providerId: this.#providerId,
      }),
      true
    )
  }
  constructor(options: GuardReaderOptions<T>) {
    this.#reader = options.reader
    this.#clock = options.clock
    this.#idleMs = options.idleMs
    this.#signal = options.signal
    this.#providerId = options.providerId
    this.#onEnd = options.onEnd
    this.#judgeEnd = options.judgeEnd
    this.#replay = options.first
    this.pipe = options.reader.pipe === undefined ? undefined : this.#pipe
    if (this.#signal.aborted) this.fail(this.#signal.reason)
    else this.#signal.addEventListener('abort', this.#onAbort, { once: true })
  }

  #finish(end: GuardedStreamEnd): void {
    if (this.#finished) return
    this.#finished = true
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer)
    this.#timer = null
    this.#signal.removeEventListener('abort', this.#onAbort)
    this.#onEnd?.(end)
  }

  /** The upstream's body ended cleanly: finished, or the failure it was after all (`judgeEnd`) for the caller to fail. */
  #endedCleanly(): ProviderError | null {
    const judged = this.#judgeEnd?.() ?? null
    if (judged === null) this.#finish(completed)
    else if ('report' in judged)
      this.#finish({ outcome: 'broken', error: judged.report, upstreamFault: true })
    else return judged.fail
    return null
  }

  /** Fails the reader; the upstream's cancel settles a pending read, which then rejects with `error` (above). */
  fail(error: unknown, upstream = false): void {
    if (this.#finished) return
    this.#failure = { error }
    this.#finish(upstream ? { outcome: 'broken', error, upstreamFault: true } : endOfAbort(error))
    this.#reader.cancel(error).catch(() => {})
    const sink = this.#piped
    this.#piped = null
    sink?.sink.error(error)
  }

  /** The upstream failed with `error`, or the signal's abort did (whose reason is then what fails the reader). */
  failWith(error: unknown): void {
    if (this.#signal.aborted) this.fail(this.#signal.reason)
    else this.fail(error, true)
  }

  /** The sink waits for the next chunk from now (the timer, when it fired during a pause, is armed again). */
  wait(): void {
    this.#waitingSince = this.#clock.now()
    if (this.#timer === null) this.#timer = this.#clock.setTimeout(this.#onTimer, this.#idleMs)
  }

  /** The piped sink took a chunk and asked for a pause: it waits for nothing until it resumes. */
  stopWaiting(): void {
    this.#waitingSince = null
  }

  isPipedTo(sink: GuardedSink<T>): boolean {
    return this.#piped === sink
  }

  /** The upstream ended while piped to `sink`. */
  closePiped(sink: GuardedSink<T>): void {
    if (this.#piped !== sink) return
    this.#waitingSince = null
    const failure = this.#endedCleanly()
    if (failure !== null) {
      this.fail(failure, true)
      return
    }
    this.#piped = null
    sink.sink.close()
  }

  #pipe(sink: ChunkSink<T>): PipeControl {
    const guarded = new GuardedSink(this, sink)
    if (this.#failure !== null) {
      sink.error(this.#failure.error)
      return guarded
    }
    const chunk = this.#replay
    this.#replay = undefined
    if (this.#finished || chunk?.done === true) {
      const failure = this.#finished ? null : this.#endedCleanly()
      if (failure !== null) {
        this.fail(failure, true)
        sink.error(failure)
      } else sink.close()
      return guarded
    }
    this.#piped = guarded
    if (chunk !== undefined) guarded.deliver(chunk.value)
    else this.wait()
    if (this.#piped !== guarded) return guarded
    guarded.upstream = this.#reader.pipe!(guarded)
    return guarded
  }

  read(): Promise<ReadableStreamReadResult<T>> {
    if (this.#failure !== null) return Promise.reject(this.#failure.error)
    if (this.#replay !== undefined) {
      const chunk = this.#replay
      this.#replay = undefined
      if (chunk.done) {
        const failure = this.#endedCleanly()
        if (failure !== null) {
          this.fail(failure, true)
          return Promise.reject(failure)
        }
      }
      return Promise.resolve(chunk)
    }
    if (this.#finished) return Promise.resolve({ done: true, value: undefined })
    this.#waitingSince = this.#clock.now()
    if (this.#timer === null) this.#timer = this.#clock.setTimeout(this.#onTimer, this.#idleMs)
    // Both readers this guards (the Node transport's, a Web stream's) settle a pending read when cancelled, so no
    // promise of our own is needed around each read to reject it on a timeout or an abort.
    return this.#reader
      .read()
      .then(
        (this.#onRead ??= (result) => this.#readSettled(result)),
        (this.#onReadError ??= (error) => this.#readFailed(error))
      )
  }

  #readSettled(result: ReadableStreamReadResult<T>): ReadableStreamReadResult<T> {
    this.#waitingSince = null
    if (this.#failure !== null) throw this.#failure.error
    if (result.done) {
      const failure = this.#endedCleanly()
      if (failure !== null) {
        this.fail(failure, true)
        throw failure
      }
    }
    return result
  }

  #readFailed(error: unknown): never {
    this.#waitingSince = null
    if (this.#failure === null) this.failWith(error)
    throw (this.#failure as { error: unknown } | null)?.error ?? error
  }

  async cancel(reason?: unknown): Promise<void> {
    this.#piped = null
    if (this.#finished) return
    this.#finish(clientGone)
    // The consumer is leaving: an upstream that already failed has nothing left to tell it.
    await this.#reader.cancel(reason).catch(() => {})
  }
}

/**
 * A sink piped through the guard: what the upstream reader is given (each chunk's answer decides whether the sink is
 * now waiting for the next, which the idle timer watches), and the control handed back to the sink.
 */
class GuardedSink<T> implements ChunkSink<T>, PipeControl {
  readonly #guard: GuardedReader<T>
  readonly sink: ChunkSink<T>
  #paused = false
  upstream: PipeControl | null = null

  constructor(guard: GuardedReader<T>, sink: ChunkSink<T>) {
    this.#guard = guard
    this.sink = sink
  }

  /** A chunk for the sink; its answer decides whether it is now waiting for the next. */
  deliver(chunk: T): boolean {
    this.#paused = !this.sink.write(chunk)
    if (this.#paused) this.#guard.stopWaiting()
    else if (this.#guard.isPipedTo(this)) this.#guard.wait()
    return !this.#paused
  }

  write(chunk: T): boolean {
    return this.#guard.isPipedTo(this) ? this.deliver(chunk) : true
  }

  close(): void {
    this.#guard.closePiped(this)
  }

  error(error: unknown): void {
    if (!this.#guard.isPipedTo(this)) return
    this.#guard.stopWaiting()
    this.#guard.failWith(error)
  }

  resume(): void {
    if (!this.#paused || !this.#guard.isPipedTo(this)) return
    this.#paused = false
    this.#guard.wait()
    this.upstream?.resume()
  }
}
