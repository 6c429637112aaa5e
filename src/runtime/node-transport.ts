/**
 * Upstream HTTP on Node: undici `Agent.dispatch` with a handler of our own (`UpstreamExchange`). undici's pools
 * measured about 3x the throughput of global `fetch` for the same proxy (ARCHITECTURE.md, "Measured on this
 * machine"); its low-level dispatch API saves the `AsyncResource`, `Readable` and async iterator that `request()`
 * builds around every response (see `UpstreamExchange`).
 *
 * The response body is offered three ways, each read one chunk at a time so that backpressure reaches the upstream
 * socket: `bytes()` (a non-streamed answer, whole), `reader()` (a stream, chunk by chunk, no stream object at all)
 * and `body` (a pull-based `ReadableStream` over that reader, built on first use). undici's own timeouts are off:
 * the core owns first-byte, idle and total timeouts through the request's signal; only the connect timeout lives here.
 *
 * undici API: https://undici.nodejs.org/#/docs/api/Dispatcher?id=dispatcherdispatchoptions-handler
 */
import { Buffer } from 'node:buffer'
import { Agent } from 'undici'
import type { Dispatcher } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import type {
  AbortHandle,
  ChunkReader,
  ChunkSink,
  HeaderReader,
  PipeControl,
  UpstreamRequest,
  UpstreamResponse,
  UpstreamTransport,
} from '../../providers/spec/provider-adapter.ts'
import { isProviderError, ProviderError } from '../../providers/spec/provider-error.ts'
import { maxWholeBodyBytes, wholeBodyTooLarge } from '../../providers/shared/read-response-bytes.ts'
import { defaultPool } from '../core/resolve-config.ts'
import type { PoolPolicy } from '../core/resolve-config.ts'

/**
 * The pool, as `pool` in the config (`ResolvedProvider.pool`); what is left out takes `defaultPool`. A transport keeps
 * one pool per origin and connect timeout, so a route that overrides `timeouts.connectMs` gets `connections` of its own.
 * https://undici.nodejs.org/#/docs/api/Pool?id=parameter-pooloptions
 */
export type NodeTransportOptions = Partial<PoolPolicy> & {
  /** The most a whole answer (`bytes()`) may hold; default `maxWholeBodyBytes` (256 MiB). */
  maxWholeBodyBytes?: number
}

export type NodeTransport = UpstreamTransport & {
  /** Waits for in-flight upstream requests, then closes every pooled socket. */
  close(): Promise<void>
}

const errorCode = (error: unknown): string | undefined => {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') return code
  if (error instanceof AggregateError) return errorCode(error.errors[0])
  return errorCode((error as { cause?: unknown }).cause)
}

const connectionMessages: Record<string, string> = {
  ECONNREFUSED: 'Could not connect to the upstream provider (connection refused).',
  ECONNRESET: 'The upstream provider closed the connection.',
  UND_ERR_SOCKET: 'The upstream provider closed the connection.',
  EPIPE: 'The upstream provider closed the connection.',
  ENOTFOUND: 'Could not resolve the upstream provider host.',
  EAI_AGAIN: 'Could not resolve the upstream provider host.',
  EHOSTUNREACH: 'The upstream provider host is unreachable.',
  ENETUNREACH: 'The upstream provider host is unreachable.',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'The upstream response ended before its announced length.',
}

/**
 * Maps what undici throws (on connect, before headers, or while the body streams) to the contract's errors.
 * An aborted signal wins over the error it caused: the core aborts with a `ProviderError` (a timeout) or the client
 * went away. The origin goes to `detail` (logs), never to `message` (clients): it may be an internal host.
 */
const toProviderError = (options: {
  error: unknown
  signal: AbortHandle
  origin: string
}): ProviderError => {
  const { error, signal, origin } = options
  if (signal.aborted) {
    if (isProviderError(signal.reason)) return signal.reason
    return new ProviderError({
      kind: 'aborted',
      status: 499,
      message: 'The request was aborted.',
      cause: error,
    })
  }
  if (isProviderError(error)) return error
  const code = errorCode(error)
  const detail = `${code ?? 'error'}: ${error instanceof Error ? error.message : String(error)} (${origin})`
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new ProviderError({
      kind: 'timeout',
      status: 504,
      message: 'Timed out connecting to the upstream provider.',
      detail,
      unsent: true,
      cause: error,
    })
  }
  if (code === 'UND_ERR_INVALID_ARG') {
    return new ProviderError({
      kind: 'connection',
      status: 502,
      retryable: false,
      message: 'The upstream request could not be sent.',
      detail,
      cause: error,
    })
  }
  return new ProviderError({
    kind: 'connection',
    status: 502,
    message:
      (code !== undefined ? connectionMessages[code] : undefined) ??
      'Could not reach the upstream provider.',
    detail,
    cause: error,
  })
}

/**
 * A `HeaderReader` over undici's header object (names already lower-case): building a `Headers` per response, with
 * its validation and its sorted iteration, cost more than everything the gateway then reads from it. A class, so a
 * response costs one small object rather than four closures.
 */
class UndiciHeaders implements HeaderReader {
  readonly #raw: Record<string, string | string[] | undefined>

  constructor(raw: Record<string, string | string[] | undefined>) {
    this.#raw = raw
  }

  get(name: string): string | null {
    const value = this.#raw[name.toLowerCase()]
    if (value === undefined) return null
    return Array.isArray(value) ? value.join(', ') : value
  }

  has(name: string): boolean {
    return this.get(name) !== null
  }

  forEach(callback: (value: string, name: string) => void): void {
    for (const name in this.#raw) {
      const value = this.get(name)
      if (value !== null) callback(value, name)
    }
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (const name in this.#raw) {
      const value = this.get(name)
      if (value !== null) yield [name, value]
    }
  }
}

/**
 * The same body as a Web stream, over the reader: one chunk per `pull`, so backpressure reaches the socket. Guards
 * every controller call because a cancel can land while a read is pending.
 */
const toWebStream = (reader: ChunkReader<Uint8Array>): ReadableStream<Uint8Array> => {
  let settled = false
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let step: ReadableStreamReadResult<Uint8Array>
        try {
          step = await reader.read()
        } catch (error) {
          if (settled) return
          settled = true
          controller.error(error)
          return
        }
        if (settled) return
        if (step.done) {
          settled = true
          controller.close()
          return
        }
        controller.enqueue(step.value)
      },
      cancel() {
        settled = true
        return reader.cancel()
      },
    },
    { highWaterMark: 0 }
  )
}

/** Bytes a reader may leave unread before the upstream socket is paused (undici's own stream default). */
const highWaterMark = 64 * 1024

const ended: ReadableStreamReadResult<Uint8Array> = { done: true, value: undefined }

const emptyHeaders: HeaderReader = new UndiciHeaders({})

const emptyBuffer = Buffer.alloc(0)
const settled = Promise.resolve()

/**
 * undici 7 hands a handler of the documented API (`onResponseStart`) a controller that keeps the response's raw
 * header lines for the whole exchange: one `Buffer` per name and value, each a view over the socket read that
 * carried the headers, so that read's memory too. The headers are parsed into strings before we see them, so a
 * stream held open for minutes keeps none of that: 16 views, their array and a read's backing store, about 3 KB of
 * each paced stream's 26 (heap snapshots of the gateway with 500 open). A controller without the field (another
 * version, a test's) is left alone.
 */
export const releaseRawHeaders = (controller: Dispatcher.DispatchController): void => {
  const held = controller as { rawHeaders?: unknown }
  if (held.rawHeaders != null) held.rawHeaders = null
}

/** undici aborts with what it is given; a non-Error reason (an `abort()` without one) becomes an Error. */
const abortReason = (reason: unknown): Error =>
  reason instanceof Error ? reason : new Error('The request was aborted.', { cause: reason })

/** An exchange's body as a `ChunkReader`: one small object per stream, not three closures and their context. */
class ExchangeReader implements ChunkReader<Uint8Array> {
  readonly #exchange: UpstreamExchange

  constructor(exchange: UpstreamExchange) {
    this.#exchange = exchange
  }

  read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    return this.#exchange.readChunk()
  }

  cancel(): Promise<void> {
    return this.#exchange.cancelBody()
  }

  pipe(sink: ChunkSink<Uint8Array>): PipeControl {
    return this.#exchange.pipeTo(sink)
  }
}

/**
 * One upstream exchange, as an undici dispatch handler: the response resolves on its headers, then body chunks go
 * straight to whoever reads them, a pending `read()` or `bytes()`, with no Node or Web stream in between. undici's
 * `request()` wraps the same handler calls in an `AsyncResource` and a `Readable` per response; on the hot path, and
 * for every chunk of a stream, that machinery cost more than the proxying itself.
 *
 * A read returns everything received so far as one chunk. undici hands over a chunked body one chunk-encoding piece
 * at a time (for an SSE stream, usually one event each), all in the same turn when one socket read carried several;
 * a waiting read is answered a microtask later with all of them, so that the gateway's per-chunk work (guard, tap,
 * client write) runs once per socket read rather than once per event, and nothing waits for data that has not come.
 *
 * Piped (`reader().pipe(sink)`), the same batches go to the sink from that microtask, with no promise at all; a
 * `false` from the sink pauses the socket until the sink resumes. That is the streaming hot path: a chunk crosses
 * the gateway in one synchronous run from here to the client's socket, as it does through a `pipe`.
 *
 * Backpressure: chunks nobody has read yet are queued; past `highWaterMark` bytes the socket is paused until a read
 * drains the queue. `bytes()` takes everything as it comes. Cancelling (or the signal firing) aborts the request,
 * which destroys its socket, so the pool never gets back a connection with an unread body on it.
 * https://undici.nodejs.org/#/docs/api/Dispatcher?id=dispatcherdispatchoptions-handler
 */
class UpstreamExchange implements Dispatcher.DispatchHandler, UpstreamResponse {
  status = 0
  headers: HeaderReader = emptyHeaders
  readonly #signal: AbortHandle
  readonly #origin: string
  /** What `bytes()` collects at most (`maxWholeBodyBytes`). */
  readonly #maxWholeBytes: number
  #controller: Dispatcher.DispatchController | null = null
  #settleResponse: ((response: UpstreamExchange) => void) | null = null
  #failResponse: ((error: ProviderError) => void) | null = null
  /**
   * Chunks nobody has taken yet: the first, and the rest when more than one came (most reads of a paced stream carry
   * one). Not one array emptied after each read: an array emptied gives up its backing store, and the next push made a
   * new one, about 110 bytes a chunk that the young generation had to collect.
   */
  #queued: Buffer | null = null
  #queuedMore: Buffer[] | null = null
  #queuedBytes = 0
  /** The body has ended or failed (or the request failed): undici calls nothing more. */
  #done = false
  #failure: ProviderError | null = null
  #cancelled = false
  /** A `read()` waiting for data, the end or a failure; answered by `#answer` in a microtask. */
  #waiting: {
    resolve: (step: ReadableStreamReadResult<Uint8Array>) => void
    reject: (error: unknown) => void
  } | null = null
  #answerScheduled = false
  /** Where a piped body goes; `null` when not piped, or once the sink has heard the end. */
  #sink: ChunkSink<Uint8Array> | null = null
  /** The sink's last `write` returned `false`: hold chunks until it resumes. */
  #sinkPaused = false
  /** `bytes()` waiting for the end. */
  #collect: { resolve: (bytes: Uint8Array) => void; reject: (error: unknown) => void } | null = null
  #stream: ReadableStream<Uint8Array> | undefined
  readonly #onAbort = (): void => this.#abort(this.#signal.reason)
  readonly #answer = (): void => {
    this.#answerScheduled = false
    if (this.#sink !== null) {
      this.#deliver(this.#sink)
      return
    }
    const waiting = this.#waiting
    if (waiting === null) return
    if (this.#queued !== null) {
      this.#waiting = null
      waiting.resolve({ done: false, value: this.#drain() })
    } else if (this.#failure !== null) {
      this.#waiting = null
      waiting.reject(this.#failure)
    } else if (this.#done) {
      this.#waiting = null
      waiting.resolve(ended)
    }
  }

  constructor(signal: AbortHandle, origin: string, maxWholeBytes: number) {
    this.#signal = signal
    this.#origin = origin
    this.#maxWholeBytes = maxWholeBytes
  }

  /** Resolves with this exchange once the response headers are in; rejects with the contract's `ProviderError`. */
  start(agent: Agent, options: Dispatcher.DispatchOptions): Promise<UpstreamExchange> {
    return new Promise<UpstreamExchange>((resolve, reject) => {
      this.#settleResponse = resolve
      this.#failResponse = reject
      this.#signal.addEventListener('abort', this.#onAbort)
      agent.dispatch(options, this)
    })
  }

  #abort(reason: unknown): void {
    if (this.#done) return
    // Before `onRequestStart` (still connecting, or queued for a connection) there is no controller: fail now, and
    // abort once connected. Nothing was written then: the provider cannot bill it (`ProviderError.unsent`).
    if (this.#controller !== null) this.#controller.abort(abortReason(reason))
    else this.#fail(reason, true)
  }

  #finish(): void {
    this.#done = true
    this.#signal.removeEventListener('abort', this.#onAbort)
  }

  /** Someone takes chunks as they come: a pending `read()`, or a sink that has not asked for a pause. */
  #taking(): boolean {
    return this.#waiting !== null || (this.#sink !== null && !this.#sinkPaused)
  }

  /**
   * `#answer` in a microtask, as a reaction to a settled promise: Node's `queueMicrotask` makes an `AsyncResource` and
   * a bound function per call (127 to 166 ns against 48 in a loop here, and about 120 bytes a chunk for the young
   * generation). The sinks catch their own failures; were `#answer` to throw, Node's default for an unhandled
   * rejection raises it as the uncaught exception `queueMicrotask` would have.
   */
  #scheduleAnswer(): void {
    if (this.#answerScheduled || !this.#taking()) return
    this.#answerScheduled = true
    void settled.then(this.#answer)
  }

  #fail(error: unknown, unsent = false): void {
    if (this.#done) return
    this.#finish()
    const converted = toProviderError({ error, signal: this.#signal, origin: this.#origin })
    const failure = unsent && !converted.unsent ? converted.with({ unsent: true }) : converted
    const failResponse = this.#failResponse
    if (failResponse !== null) {
      this.#settleResponse = this.#failResponse = null
      failResponse(failure)
      return
    }
    // Chunks already queued are still read first; the failure comes after them.
    this.#failure = failure
    this.#scheduleAnswer()
    const collect = this.#collect
    this.#collect = null
    collect?.reject(failure)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#signal.aborted) controller.abort(abortReason(this.#signal.reason))
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders
  ): void {
    this.status = statusCode
    this.headers = new UndiciHeaders(headers)
    releaseRawHeaders(controller)
    const settle = this.#settleResponse
    this.#settleResponse = this.#failResponse = null
    settle?.(this)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#cancelled) return
    if (this.#queued === null) this.#queued = chunk
    else (this.#queuedMore ??= []).push(chunk)
    this.#queuedBytes += chunk.byteLength
    if (this.#taking()) this.#scheduleAnswer()
    else if (this.#collect === null) {
      if (this.#queuedBytes >= highWaterMark) controller.pause()
    } else if (this.#queuedBytes > this.#maxWholeBytes) this.#tooLarge(controller)
  }

  /** A whole answer past its bound: what was collected is let go, `bytes()` fails, the connection is dropped. */
  #tooLarge(controller: Dispatcher.DispatchController): void {
    this.#queued = this.#queuedMore = null
    this.#queuedBytes = 0
    const failure = wholeBodyTooLarge(this.#maxWholeBytes)
    this.#fail(failure)
    controller.abort(failure)
  }

  onResponseEnd(): void {
    this.#finish()
    this.#scheduleAnswer()
    const collect = this.#collect
    if (collect !== null) {
      this.#collect = null
      collect.resolve(this.#drain())
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.#cancelled) {
      this.#finish()
      return
    }
    this.#fail(error)
  }

  /** Everything queued, as one array (no copy when it is one chunk). */
  #drain(): Uint8Array {
    const first = this.#queued
    const more = this.#queuedMore
    const whole =
      first === null
        ? emptyBuffer
        : more === null
          ? first
          : Buffer.concat([first, ...more], this.#queuedBytes)
    this.#queued = this.#queuedMore = null
    this.#queuedBytes = 0
    return new Uint8Array(whole.buffer, whole.byteOffset, whole.byteLength)
  }

  /** `reader().read()`. */
  readChunk(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (this.#cancelled) return Promise.resolve(ended)
    if (this.#waiting !== null) return Promise.reject(new TypeError('A read is already pending.'))
    if (this.#queued !== null) {
      const value = this.#drain()
      if (!this.#done) this.#controller?.resume()
      return Promise.resolve({ done: false, value })
    }
    if (this.#failure !== null) return Promise.reject(this.#failure)
    if (this.#done) return Promise.resolve(ended)
    const next = new Promise<ReadableStreamReadResult<Uint8Array>>((resolve, reject) => {
      this.#waiting = { resolve, reject }
    })
    // After `#waiting` is set: resuming can deliver the rest of the body, and its end, synchronously.
    this.#controller?.resume()
    return next
  }

  /**
   * Gives the sink what is queued, then the end or the failure once everything before it has gone. The end is given
   * even while the sink is paused: it only means nothing more comes.
   */
  #deliver(sink: ChunkSink<Uint8Array>): void {
    if (this.#sinkPaused) return
    if (this.#queued !== null && !sink.write(this.#drain())) {
      this.#sinkPaused = true
      if (!this.#done) this.#controller?.pause()
    }
    // The sink may have cancelled (the client went away) from inside `write`.
    if (this.#sink !== sink || this.#queued !== null) return
    if (this.#failure !== null) {
      this.#sink = null
      sink.error(this.#failure)
    } else if (this.#done) {
      this.#sink = null
      sink.close()
    }
  }

  /** `reader().pipe(sink)`. */
  pipeTo(sink: ChunkSink<Uint8Array>): PipeControl {
    if (this.#sink !== null || this.#waiting !== null || this.#collect !== null)
      throw new TypeError('The body is already being read.')
    if (this.#cancelled) return { resume: () => {} }
    this.#sink = sink
    this.#scheduleAnswer()
    // After `#sink` is set: resuming can deliver the rest of the body, and its end, synchronously.
    if (!this.#done) this.#controller?.resume()
    return {
      resume: () => {
        if (!this.#sinkPaused || this.#sink !== sink) return
        this.#sinkPaused = false
        this.#deliver(sink)
        if (!this.#sinkPaused && !this.#done && this.#sink === sink) this.#controller?.resume()
      },
    }
  }

  /** `reader().cancel()`. */
  async cancelBody(): Promise<void> {
    if (this.#cancelled) return
    this.#cancelled = true
    this.#sink = null
    this.#queued = this.#queuedMore = null
    this.#queuedBytes = 0
    const waiting = this.#waiting
    this.#waiting = null
    waiting?.resolve(ended)
    if (!this.#done) this.#controller?.abort(new Error('The response body was cancelled.'))
  }

  get body(): ReadableStream<Uint8Array> {
    return (this.#stream ??= toWebStream(this.reader()))
  }

  reader(): ChunkReader<Uint8Array> {
    return new ExchangeReader(this)
  }

  bytes(): Promise<Uint8Array> {
    if (this.#failure !== null) return Promise.reject(this.#failure)
    if (this.#done) return Promise.resolve(this.#drain())
    const whole = new Promise<Uint8Array>((resolve, reject) => {
      this.#collect = { resolve, reject }
    })
    this.#controller?.resume()
    return whole
  }
}

/** `origin` and `path` of an upstream URL; the few URLs a gateway calls are parsed once each. */
const splitUrls = new Map<string, { origin: string; path: string }>()
const splitUrl = (href: string): { origin: string; path: string } => {
  let split = splitUrls.get(href)
  if (split === undefined) {
    const url = new URL(href)
    split = { origin: url.origin, path: `${url.pathname}${url.search}` }
    if (splitUrls.size >= 1_000) splitUrls.clear()
    splitUrls.set(href, split)
  }
  return split
}

const requestHeaders = (
  request: UpstreamRequest,
  body: Uint8Array | undefined
): Record<string, string> => {
  const headers: Record<string, string> = {}
  const given = request.headers
  // `for…in` over a plain object of strings: no entry arrays, as `Object.entries` would make per header.
  for (const name in given) {
    if (name.length !== 14 || name.toLowerCase() !== 'content-length') headers[name] = given[name]
  }
  if (body !== undefined) headers['content-length'] = String(body.byteLength)
  return headers
}

export const createNodeTransport = (options: NodeTransportOptions = {}): NodeTransport => {
  const pool: PoolPolicy = {
    connections: options.connections ?? defaultPool.connections,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? defaultPool.keepAliveTimeoutMs,
    keepAliveMaxTimeoutMs: options.keepAliveMaxTimeoutMs ?? defaultPool.keepAliveMaxTimeoutMs,
    pipelining: options.pipelining ?? defaultPool.pipelining,
  }
  const maxWholeBytes = options.maxWholeBodyBytes ?? maxWholeBodyBytes
  const agents = new Map<number | undefined, Agent>()
  const agentFor = (connectTimeoutMs: number | undefined): Agent => {
    let agent = agents.get(connectTimeoutMs)
    if (agent === undefined) {
      agent = new Agent({
        connections: pool.connections,
        pipelining: pool.pipelining,
        keepAliveTimeout: pool.keepAliveTimeoutMs,
        keepAliveMaxTimeout: pool.keepAliveMaxTimeoutMs,
        connect: connectTimeoutMs === undefined ? undefined : { timeout: connectTimeoutMs },
        headersTimeout: 0,
        bodyTimeout: 0,
      })
      agents.set(connectTimeoutMs, agent)
    }
    return agent
  }

  return {
    // An exchange listens to its signal from `start` to its end, and fails whatever waits on it when it fires.
    settlesOnAbort: true,
    request(request: UpstreamRequest): Promise<UpstreamResponse> {
      const url = splitUrl(request.url)
      const body =
        typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body
      const exchange = new UpstreamExchange(request.signal, url.origin, maxWholeBytes)
      return exchange.start(agentFor(request.connectTimeoutMs), {
        origin: url.origin,
        path: url.path,
        method: request.method,
        headers: requestHeaders(request, body),
        body,
        headersTimeout: 0,
        bodyTimeout: 0,
      })
    },

    async close(): Promise<void> {
      const closing = [...agents.values()].map((agent) => agent.close())
      agents.clear()
      await Promise.all(closing)
    },
  }
}
