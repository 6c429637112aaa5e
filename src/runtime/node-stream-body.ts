/**
 * Node's carrier for a streamed response body (`Deps.streamBody`): an object with the two faces that reach it, and no
 * Web stream. On Node 20 every `new ReadableStream` costs about 10 µs (each is made transferable), and each chunk
 * through one costs a few more; for a proxied stream that was more than the rest of the gateway's work on it.
 *
 * - `getReader()` (with `locked` and `cancel`): @hono/node-server's `Response` keeps a body that has `getReader`
 *   as it is and writes it to the socket through that reader: `read()` until done, `cancel()` when the client goes
 *   away, `closed` to clean up (`writeFromReadableStream` in its utils).
 *   https://github.com/honojs/node-server/blob/main/src/utils.ts
 * - `[Symbol.asyncIterator]`: anything that asks for a real `Response` (`response.body`, `response.text()`) gets
 *   one from Node's `Response`, which takes an async iterable as its body.
 *
 * The integration tests stream through the Node server with the official SDKs, so a change in either contract fails
 * there, not in production.
 */
import type { BodySource, StreamBodyFactory } from '../api/response-body.ts'

const done: ReadableStreamReadResult<Uint8Array> = { done: true, value: undefined }

class PulledBodyReader {
  readonly closed: Promise<void>
  readonly #source: BodySource
  #resolveClosed: () => void = () => {}
  #finished = false
  readonly #onPiece = (piece: Uint8Array | null): ReadableStreamReadResult<Uint8Array> => {
    if (piece !== null) return { done: false, value: piece }
    this.#finish()
    return done
  }

  constructor(source: BodySource) {
    this.#source = source
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
  }

  read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (this.#finished) return Promise.resolve(done)
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
  #reader: PulledBodyReader | null = null

  constructor(source: BodySource) {
    this.#source = source
  }

  get locked(): boolean {
    return this.#reader !== null
  }

  getReader(): PulledBodyReader {
    if (this.#reader !== null) throw new TypeError('The body is locked to a reader.')
    this.#reader = new PulledBodyReader(this.#source)
    return this.#reader
  }

  cancel(reason?: unknown): Promise<void> {
    return this.#reader === null
      ? this.getReader().cancel(reason)
      : Promise.reject(new TypeError('The body is locked to a reader.'))
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    const reader = this.getReader()
    try {
      for (let step = await reader.read(); !step.done; step = await reader.read()) yield step.value
    } finally {
      if (!reader.finished) await reader.cancel(new Error('The body was not read to the end.'))
    }
  }
}

/** The factory for `Deps.streamBody` on Node; typed as the `ReadableStream` it stands in for (see above). */
export const nodeStreamBody: StreamBodyFactory = (source) =>
  new PulledBody(source) as unknown as ReadableStream<Uint8Array>
