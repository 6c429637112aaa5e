/**
 * Node's carrier for a streamed response body (`Deps.streamBody`): an object with the two faces that reach it, and no
 * Web stream. On Node 20 every `new ReadableStream` costs about 10 µs (each is made transferable), and each chunk
 * through one costs a few more; for a proxied stream that was more than the rest of the gateway's work on it.
 *
 * - `getReader()` (with `locked` and `cancel`): @hono/node-server's `Response` keeps a body that has `getReader`
 *   as it is and writes it to the socket through that reader: `read()` until done, `cancel()` when the client goes
 *   away, `closed` to clean up (`writeFromReadableStream` in its utils). When the source can be piped, that reader
 *   writes to the connection (`env.outgoing`) itself, so a streamed chunk costs no promise on its way (below).
 *   https://github.com/honojs/node-server/blob/main/src/utils.ts
 * - `[Symbol.asyncIterator]`: anything that asks for a real `Response` (`response.body`, `response.text()`) gets
 *   one from Node's `Response`, which takes an async iterable as its body.
 *
 * The integration tests stream through the Node server with the official SDKs, so a change in either contract fails
 * there, not in production.
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { PipeControl } from '../../providers/spec/provider-adapter.ts'
import type { BodySink, BodySource, StreamBodyFactory } from '../api/response-body.ts'
import { GatewayError } from '../core/errors.ts'

const done: ReadableStreamReadResult<Uint8Array> = { done: true, value: undefined }

/** What of `ServerResponse` the direct write reads: Node's own fields, not in its types (`_http_outgoing.js`). */
type OutgoingInternals = ServerResponse & {
  _headerSent: boolean
  _hasBody: boolean
  outputData: unknown[]
}

/** Pieces up to this size are framed into one buffer (a copy); a larger one goes through `ServerResponse#write`. */
const maxFramedPiece = 16 * 1024

/**
 * The connection a streamed piece can be written to directly, as `ServerResponse#write` would end up writing it, or
 * `null` where that call must do it (headers not yet sent, output queued behind a pipelined response, not chunked,
 * ended). The checks are those of Node's `_writeRaw`: the socket is this response's and writable, nothing is queued.
 * `write` costs a chunked response, per piece, a cork, a `process.nextTick` to uncork, four buffered writes (length,
 * CRLF, piece, CRLF) and a `writev` of them; one framed buffer written to the socket is one write (docs/benchmark.md).
 */
const directSocketOf = (outgoing: ServerResponse): Socket | null => {
  const response = outgoing as OutgoingInternals
  const socket = response.socket
  if (
    socket === null ||
    response.chunkedEncoding !== true ||
    response._headerSent !== true ||
    response._hasBody !== true ||
    response.finished ||
    !Array.isArray(response.outputData) ||
    response.outputData.length !== 0 ||
    (socket as Socket & { _httpMessage?: unknown })._httpMessage !== outgoing ||
    !socket.writable
  )
    return null
  return socket
}

/** `piece` as one HTTP/1.1 chunk: its length in hex, CRLF, the piece, CRLF (RFC 9112 §7.1). */
const frameChunk = (piece: Uint8Array): Buffer => {
  const length = piece.byteLength
  let digits = 1
  while (length >>> (4 * digits) !== 0) digits += 1
  const framed = Buffer.allocUnsafe(digits + length + 4)
  for (let index = digits - 1, rest = length; index >= 0; index -= 1, rest >>>= 4)
    framed[index] = hexDigits.charCodeAt(rest & 15)
  framed[digits] = 13
  framed[digits + 1] = 10
  framed.set(piece, digits + 2)
  framed[digits + 2 + length] = 13
  framed[digits + 3 + length] = 10
  return framed
}

const hexDigits = '0123456789abcdef'

/**
 * The reader @hono/node-server gets. Pulled, each `read()` is one `source.pull()`. Piped (the source can be, and the
 * connection is known), the first `read()` hands the source the connection itself: pieces are written as they come,
 * pausing the source while the socket's buffer is full, and that one read settles, as done, when the source has
 * written its last piece; the library's loop then ends the response as it would have.
 */
class PulledBodyReader implements BodySink {
  readonly closed: Promise<void>
  readonly #source: BodySource
  readonly #outgoing: ServerResponse | null
  #resolveClosed: () => void = () => {}
  #finished = false
  /** The piped read, settled when the source closes or the reader is cancelled. */
  #settlePiped: ((step: ReadableStreamReadResult<Uint8Array>) => void) | null = null
  #control: PipeControl | null = null
  readonly #resume = (): void => this.#control?.resume()
  readonly #onPiece = (piece: Uint8Array | null): ReadableStreamReadResult<Uint8Array> => {
    if (piece !== null) return { done: false, value: piece }
    this.#finish()
    return done
  }

  constructor(source: BodySource, outgoing: ServerResponse | null) {
    this.#source = source
    this.#outgoing = outgoing
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve
    })
  }

  get finished(): boolean {
    return this.#finished
  }

  #finish(): void {
    this.#finished = true
    this.#resolveClosed()
    const settle = this.#settlePiped
    this.#settlePiped = null
    settle?.(done)
  }

  write(piece: Uint8Array): boolean {
    const outgoing = this.#outgoing!
    // A connection already gone is reported by its `close`, which cancels the source.
    if (this.#finished || outgoing.destroyed) return true
    // Nothing to send; framed, an empty piece would be the chunk that ends the body (Node's `write` skips it too).
    if (piece.byteLength === 0) return true
    const socket = piece.byteLength <= maxFramedPiece ? directSocketOf(outgoing) : null
    if (socket !== null) {
      if (socket.write(frameChunk(piece))) return true
      socket.once('drain', this.#resume)
      return false
    }
    if (outgoing.write(piece)) return true
    outgoing.once('drain', this.#resume)
    return false
  }

  close(): void {
    this.#finish()
  }

  read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (this.#finished) return Promise.resolve(done)
    if (this.#control === null && this.#outgoing !== null && this.#source.pipe !== undefined) {
      const piped = new Promise<ReadableStreamReadResult<Uint8Array>>((resolve) => {
        this.#settlePiped = resolve
      })
      this.#control = this.#source.pipe(this)
      return piped
    }
    return this.#source.pull().then(this.#onPiece)
  }

  cancel(reason?: unknown): Promise<void> {
    if (this.#finished) return Promise.resolve()
    this.#finish()
    return this.#source.cancel(reason)
  }

  releaseLock(): void {}
}

class PulledBody {
  readonly #source: BodySource
  readonly #outgoing: ServerResponse | null
  #reader: PulledBodyReader | null = null
  /**
   * The connection closed: a body still unread, or read but not to its end, is cancelled, so the source reports its
   * end (the usage event, a tenant key's concurrency slot). @hono/node-server cancels a reader it got when the client
   * goes away; this covers a body it never read, as when `writeHead` throws on a header Node refuses (the library then
   * answers 500 and destroys the connection without touching the body).
   */
  readonly #onClose = (): void => {
    const read = this.#reader
    if (read !== null) {
      // The client went away (the library cancels too; the first cancel counts).
      if (!read.finished) read.cancel().catch(() => {})
      return
    }
    this.getReader()
      .cancel(new GatewayError('internal', 'The response failed before its body was sent.'))
      .catch(() => {})
  }

  constructor(source: BodySource, outgoing: ServerResponse | null) {
    this.#source = source
    this.#outgoing = outgoing
    outgoing?.once('close', this.#onClose)
  }

  get locked(): boolean {
    return this.#reader !== null
  }

  getReader(): PulledBodyReader {
    return this.#lock(this.#outgoing)
  }

  #lock(outgoing: ServerResponse | null): PulledBodyReader {
    if (this.#reader !== null) throw new TypeError('The body is locked to a reader.')
    this.#reader = new PulledBodyReader(this.#source, outgoing)
    return this.#reader
  }

  cancel(reason?: unknown): Promise<void> {
    return this.#reader === null
      ? this.getReader().cancel(reason)
      : Promise.reject(new TypeError('The body is locked to a reader.'))
  }

  /** Whoever iterates the body takes its bytes (a `Response` made from it): always pulled. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    const reader = this.#lock(null)
    try {
      for (let step = await reader.read(); !step.done; step = await reader.read()) yield step.value
    } finally {
      if (!reader.finished) await reader.cancel(new Error('The body was not read to the end.'))
    }
  }
}

/** @hono/node-server's `env.outgoing`, when the request came through it. */
const outgoingOf = (env: unknown): ServerResponse | null => {
  const outgoing = (env as { outgoing?: ServerResponse } | undefined)?.outgoing
  return outgoing !== undefined && typeof outgoing.write === 'function' ? outgoing : null
}

/** The factory for `Deps.streamBody` on Node; typed as the `ReadableStream` it stands in for (see above). */
export const nodeStreamBody: StreamBodyFactory = (source, env) =>
  new PulledBody(source, outgoingOf(env)) as unknown as ReadableStream<Uint8Array>
