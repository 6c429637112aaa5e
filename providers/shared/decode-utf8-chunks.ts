/**
 * Decodes UTF-8 arriving in chunks, holding back a character split between two chunks. The same as
 * `TextDecoder.decode(chunk, { stream: true })`, but each chunk is decoded whole, without the streaming mode: on
 * Node 20 the streaming mode leaves the fast UTF-8 path for ICU's converter, about ten times slower, and a tap
 * decodes every byte of every stream.
 */
const decoder = new TextDecoder()

/** Where a character split at the end of `bytes` starts, or `bytes.length` when the last character is whole. */
const wholeLength = (bytes: Uint8Array): number => {
  let index = bytes.length - 1
  let continuations = 0
  while (index >= 0 && continuations < 3 && (bytes[index] & 0xc0) === 0x80) {
    index -= 1
    continuations += 1
  }
  if (index < 0) return bytes.length
  const lead = bytes[index]
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1
  return length > continuations + 1 ? index : bytes.length
}

export type Utf8ChunkDecoder = {
  decode(chunk: Uint8Array): string
  /** What is left (a character cut short becomes U+FFFD, as `TextDecoder` makes it). */
  end(): string
}

export const createUtf8ChunkDecoder = (): Utf8ChunkDecoder => {
  let held: Uint8Array | null = null
  return {
    decode(chunk) {
      let bytes = chunk
      if (held !== null) {
        bytes = new Uint8Array(held.byteLength + chunk.byteLength)
        bytes.set(held)
        bytes.set(chunk, held.byteLength)
        held = null
      }
      const whole = wholeLength(bytes)
      if (whole < bytes.length) held = bytes.slice(whole)
      return decoder.decode(whole === bytes.length ? bytes : bytes.subarray(0, whole))
    },
    end() {
      const rest = held === null ? '' : decoder.decode(held)
      held = null
      return rest
    },
  }
}
