/**
 * Upstream HTTP on Node: undici `Agent.request`, which measured about 3x the throughput of global `fetch` for the
 * same proxy (ARCHITECTURE.md, "Measured on this machine").
 *
 * The response body is offered three ways, each read one chunk at a time so that backpressure reaches the upstream
 * socket: `bytes()` (a non-streamed answer, whole), `reader()` (a stream, chunk by chunk, no Web stream) and `body`
 * (a pull-based `ReadableStream` over that reader, built on first use). `Readable.toWeb()` is avoided on purpose: on
 * Node 20 it threw ERR_INVALID_STATE when the client went away mid-stream. undici's own timeouts are off: the core owns first-byte,
 * idle and total timeouts through the request's signal; only the connect timeout lives here.
 *
 * undici API: https://undici.nodejs.org/#/docs/api/Dispatcher?id=dispatcherrequestoptions-callback
 */
import { Buffer } from 'node:buffer'
import { Agent } from 'undici'
import type { Dispatcher } from 'undici'
import type { AbortHandle, ChunkReader, HeaderReader, UpstreamRequest, UpstreamResponse, UpstreamTransport } from '../../providers/spec/provider-adapter.ts'
import { isProviderError, ProviderError } from '../../providers/spec/provider-error.ts'

export type NodeTransportOptions = {
  /** Most sockets per upstream origin (undici default: unlimited). */
  connections?: number
  /** How long an idle upstream socket is kept when the server sends no keep-alive hint (undici default 4 s). */
  keepAliveTimeoutMs?: number
}

export type NodeTransport = UpstreamTransport & {
  /** Waits for in-flight upstream requests, then closes every pooled socket. */
  close(): Promise<void>
}

const noop = (): void => {}

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
const toProviderError = (options: { error: unknown; signal: AbortHandle; origin: string }): ProviderError => {
  const { error, signal, origin } = options
  if (signal.aborted) {
    if (isProviderError(signal.reason)) return signal.reason
    return new ProviderError({ kind: 'aborted', status: 499, message: 'The request was aborted.', cause: error })
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
    message: (code !== undefined ? connectionMessages[code] : undefined) ?? 'Could not reach the upstream provider.',
    detail,
    cause: error,
  })
}

/**
 * A `HeaderReader` over undici's header object (names already lower-case): building a `Headers` per response, with
 * its validation and its sorted iteration, cost more than everything the gateway then reads from it.
 */
const headerReader = (raw: Record<string, string | string[] | undefined>): HeaderReader => {
  const read = (name: string): string | null => {
    const value = raw[name.toLowerCase()]
    if (value === undefined) return null
    return Array.isArray(value) ? value.join(', ') : value
  }
  return {
    get: read,
    has: (name) => read(name) !== null,
    *[Symbol.iterator](): IterableIterator<[string, string]> {
      for (const name in raw) {
        const value = read(name)
        if (value !== null) yield [name, value]
      }
    },
  }
}

/**
 * The body as a `ChunkReader` straight over undici's Node stream: one chunk per read, no Web stream in between (a
 * streamed answer passes each of its chunks through here). A read rejects with the contract's `ProviderError`.
 */
const toChunkReader = (options: {
  body: Dispatcher.ResponseData['body']
  signal: AbortHandle
  origin: string
}): ChunkReader<Uint8Array> => {
  const { body, signal, origin } = options
  const chunks = body[Symbol.asyncIterator]()
  let cancelled = false
  const ended: ReadableStreamReadResult<Uint8Array> = { done: true, value: undefined }
  const onStep = (step: IteratorResult<Buffer>): ReadableStreamReadResult<Uint8Array> => {
    if (step.done || cancelled) return ended
    const chunk = step.value
    return { done: false, value: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) }
  }
  const onError = (error: unknown): ReadableStreamReadResult<Uint8Array> => {
    if (cancelled) return ended
    throw toProviderError({ error, signal, origin })
  }
  return {
    read() {
      if (cancelled) return Promise.resolve(ended)
      return (chunks.next() as Promise<IteratorResult<Buffer>>).then(onStep, onError)
    },
    async cancel() {
      cancelled = true
      body.destroy()
    },
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
    { highWaterMark: 0 },
  )
}

/**
 * The answer as the contract has it. A class, because `body` is a getter (the Web stream is built on first use only,
 * so a buffered read never pays for one): an object literal with a getter would get a hidden class of its own per
 * response, in old space, holding the response alive through young-generation GCs (see src/core/abort-token.ts).
 */
class NodeUpstreamResponse implements UpstreamResponse {
  readonly status: number
  readonly headers: HeaderReader
  readonly #source: Dispatcher.ResponseData['body']
  readonly #signal: AbortHandle
  readonly #origin: string
  #stream: ReadableStream<Uint8Array> | undefined

  constructor(options: { response: Dispatcher.ResponseData; signal: AbortHandle; origin: string }) {
    this.status = options.response.statusCode
    this.headers = headerReader(options.response.headers)
    this.#source = options.response.body
    this.#signal = options.signal
    this.#origin = options.origin
  }

  get body(): ReadableStream<Uint8Array> {
    return (this.#stream ??= toWebStream(this.reader()))
  }

  reader(): ChunkReader<Uint8Array> {
    return toChunkReader({ body: this.#source, signal: this.#signal, origin: this.#origin })
  }

  async bytes(): Promise<Uint8Array> {
    try {
      return new Uint8Array(await this.#source.arrayBuffer())
    } catch (error) {
      throw toProviderError({ error, signal: this.#signal, origin: this.#origin })
    }
  }
}

const requestHeaders = (request: UpstreamRequest, body: Uint8Array | undefined): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.toLowerCase() !== 'content-length') headers[name] = value
  }
  if (body !== undefined) headers['content-length'] = String(body.byteLength)
  return headers
}

export const createNodeTransport = (options: NodeTransportOptions = {}): NodeTransport => {
  const agents = new Map<number | undefined, Agent>()
  const agentFor = (connectTimeoutMs: number | undefined): Agent => {
    let agent = agents.get(connectTimeoutMs)
    if (agent === undefined) {
      agent = new Agent({
        connections: options.connections ?? null,
        keepAliveTimeout: options.keepAliveTimeoutMs,
        connect: connectTimeoutMs === undefined ? undefined : { timeout: connectTimeoutMs },
        headersTimeout: 0,
        bodyTimeout: 0,
      })
      agents.set(connectTimeoutMs, agent)
    }
    return agent
  }

  return {
    async request(request: UpstreamRequest): Promise<UpstreamResponse> {
      const url = new URL(request.url)
      const body = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body
      let response: Dispatcher.ResponseData
      try {
        response = await agentFor(request.connectTimeoutMs).request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: request.method,
          headers: requestHeaders(request, body),
          body,
          // undici takes any object with `addEventListener` (lib/core/util.js `addAbortListener`).
          signal: request.signal as AbortSignal,
          headersTimeout: 0,
          bodyTimeout: 0,
        })
      } catch (error) {
        throw toProviderError({ error, signal: request.signal, origin: url.origin })
      }
      // undici destroys the body with an error on abort or socket failure; unheard, that event kills the process.
      response.body.on('error', noop)
      return new NodeUpstreamResponse({ response, signal: request.signal, origin: url.origin })
    },

    async close(): Promise<void> {
      const closing = [...agents.values()].map((agent) => agent.close())
      agents.clear()
      await Promise.all(closing)
    },
  }
}
