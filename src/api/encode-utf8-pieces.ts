/**
 * UTF-8 bytes of a streamed piece of text, written into a shared slab instead of a buffer of their own: a stream
 * encoder sends one piece per upstream chunk, and `TextEncoder.encode` allocates a new `ArrayBuffer` for each (about
 * 1 µs on Node 20 for a 200-byte event, against 0.35 µs for `encodeInto` a slab). Node's `Buffer.from` pools small
 * strings the same way; this is the Web-standard form of it, so it runs on Workers too.
 *
 * Each piece is a view of its own bytes, never written again: a slab is filled from the front and a full one is left
 * to the pieces that still hold it (a new one is made). A piece must not be transferred (its buffer detached), as
 * a byte stream's `enqueue` would do: nothing between the encoders and the connection does (Node's HTTP response
 * writes it, undici's `Response` copies what an iterable body yields).
 */

const encoder = new TextEncoder()

const slabBytes = 16_384
/** Longer texts get a buffer of their own; this many UTF-16 units take at most 3 bytes each, so always fit a new slab. */
const slabbedChars = slabBytes / 4

let slab = new Uint8Array(slabBytes)
let used = 0

export const encodeUtf8Piece = (text: string): Uint8Array => {
  const length = text.length
  if (length > slabbedChars) return encoder.encode(text)
  if (slabBytes - used < length * 3) {
    slab = new Uint8Array(slabBytes)
    used = 0
  }
  const start = used
  used += encoder.encodeInto(text, start === 0 ? slab : slab.subarray(start)).written
  return slab.subarray(start, used)
}
