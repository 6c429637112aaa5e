/**
 * A streamed response body as the core produces it: a source pulled one piece at a time. The runtime decides what
 * object carries it to the client (`Deps.streamBody`); the default, and what Workers use, is a Web `ReadableStream`.
 */

import type { PipeControl } from '../../providers/spec/provider-adapter.ts'

/** Where a piped source writes: the client's connection. */
export type BodySink = {
  /** Bytes for the client; `false` asks for a pause until `PipeControl.resume()`. */
  write(piece: Uint8Array): boolean
  /** Everything has been written (failures are encoded in-band before it). */
  close(): void
}

/** Bytes for the client, one piece per `pull`, then `null` at the end. Never rejects: failures are encoded in-band. */
export type BodySource = {
  pull(): Promise<Uint8Array | null>
  /** The client went away: stop, and release what feeds the source. */
  cancel(reason: unknown): Promise<void>
  /**
   * Push mode, when what feeds the source can be piped (see `ChunkReader.pipe`): every piece goes to `sink` as it
   * comes. Use either `pull` or `pipe`, once; `cancel` stops both.
   */
  pipe?(sink: BodySink): PipeControl
}

/**
 * Builds the object that carries a streamed body to the client. `env` is the runtime's per-request context (Hono's
 * `c.env`: on Node, @hono/node-server's `{ incoming, outgoing }`), which lets a runtime write to the connection itself.
 */
export type StreamBodyFactory = (source: BodySource, env?: unknown) => ReadableStream<Uint8Array>

/** A pull-based `ReadableStream` over the source: one piece per pull, so backpressure reaches the upstream socket. */
export const webStreamBody: StreamBodyFactory = (source) =>
  new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const piece = await source.pull()
        if (piece === null) controller.close()
        else controller.enqueue(piece)
      },
      cancel: (reason) => source.cancel(reason),
    },
    { highWaterMark: 0 }
  )
