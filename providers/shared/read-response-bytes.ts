import type { ChunkReader, UpstreamResponse } from '../spec/provider-adapter.ts'

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

/** Reads a whole stream of bytes. */
export const readStreamBytes = async (body: ReadableStream<Uint8Array>): Promise<Uint8Array> => {
  const reader = body.getReader()
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return concatBytes(parts, size)
    parts.push(value)
    size += value.byteLength
  }
}

/** The whole upstream body: the transport's buffered fast path when it has one, else the stream. */
export const readResponseBytes = (response: UpstreamResponse): Promise<Uint8Array> =>
  response.bytes ? response.bytes() : readStreamBytes(response.body)

/** The upstream body as a reader: the transport's own when it has one, else the stream's. */
export const bodyReader = (response: UpstreamResponse): ChunkReader<Uint8Array> =>
  response.reader ? response.reader() : response.body.getReader()
