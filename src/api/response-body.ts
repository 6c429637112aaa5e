/**
 * A streamed response body as the core produces it: a source pulled one piece at a time. The runtime decides what
 * object carries it to the client (`Deps.streamBody`); the default, and what Workers use, is a Web `ReadableStream`.
 */

/** Bytes for the client, one piece per `pull`, then `null` at the end. Never rejects: failures are encoded in-band. */
export type BodySource = {
  pull(): Promise<Uint8Array | null>
  /** The client went away: stop, and release what feeds the source. */
  cancel(reason: unknown): Promise<void>
}

export type StreamBodyFactory = (source: BodySource) => ReadableStream<Uint8Array>

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
