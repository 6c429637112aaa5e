import type { ChunkReader, UpstreamResponse } from '../spec/provider-adapter.ts'
import { ProviderError } from '../spec/provider-error.ts'

/**
 * The most a whole (not streamed) upstream answer may hold, in bytes: past it the read fails and the connection is
 * dropped, so an upstream that never stops sending cannot take the gateway's memory. 256 MiB is far above any answer
 * a model API sends (the largest, an embeddings list of 2,048 inputs of 3,072 floats as JSON text, is about 130 MB) and
 * below what a string can hold in V8 (the body is decoded whole after).
 */
export const maxWholeBodyBytes = 256 * 1024 * 1024

/** The failure of a whole answer past `limit` bytes: the upstream's (502), as an answer the gateway cannot read. */
export const wholeBodyTooLarge = (limit: number): ProviderError =>
  new ProviderError({
    kind: 'bad-response',
    status: 502,
    message: `The upstream's answer is larger than the gateway reads (${Math.round(limit / 1024 / 1024)} MiB).`,
  })

/** `first` then `second` as one array (either itself when the other is empty). */
export const joinBytes = (first: Uint8Array, second: Uint8Array): Uint8Array => {
  if (first.byteLength === 0) return second
  if (second.byteLength === 0) return first
  return concatBytes([first, second], first.byteLength + second.byteLength)
}

/** The parts as one array of `size` bytes (the part itself when there is one). */
export const concatBytes = (parts: Uint8Array[], size: number): Uint8Array => {
  if (parts.length === 1) return parts[0]
  const all = new Uint8Array(size)
  let offset = 0
  for (const part of parts) {
    all.set(part, offset)
    offset += part.byteLength
  }
  return all
}

/** Reads a whole stream of bytes, at most `limit` of them (`wholeBodyTooLarge` past it, the stream cancelled). */
export const readStreamBytes = async (
  body: ReadableStream<Uint8Array>,
  limit = maxWholeBodyBytes
): Promise<Uint8Array> => {
  const reader = body.getReader()
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return concatBytes(parts, size)
    parts.push(value)
    size += value.byteLength
    if (size > limit) {
      parts.length = 0
      const failure = wholeBodyTooLarge(limit)
      await reader.cancel(failure).catch(() => {})
      throw failure
    }
  }
}

/**
 * The whole upstream body, at most `maxWholeBodyBytes`: the transport's buffered fast path when it has one (which
 * holds the same bound), else the stream.
 */
export const readResponseBytes = (response: UpstreamResponse): Promise<Uint8Array> =>
  response.bytes ? response.bytes() : readStreamBytes(response.body)

/** The upstream body as a reader: the transport's own when it has one, else the stream's. */
export const bodyReader = (response: UpstreamResponse): ChunkReader<Uint8Array> =>
  response.reader ? response.reader() : response.body.getReader()
