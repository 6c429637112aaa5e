/**
 * Random characters for ids (response, message and item ids, request ids, event ids), from a pool of random bytes
 * refilled 4 KiB at a time: one `crypto.getRandomValues` call costs about 2 µs on Node whatever its size, and a
 * converted Responses stream alone makes three ids. The bytes are Web Crypto's; these ids are unique, not secret
 * (an API key is made by `generate-api-key.ts`, from a call of its own).
 */
const pool = new Uint8Array(4096)
let pooled = 0

/** The two hex digits of each byte. */
const hexDigits = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

/**
 * Reserves `count` (at most the pool's size) random bytes and answers where they start in `randomPool()`; they are
 * the caller's to read until its next call here.
 */
export const takeRandomBytes = (count: number): number => {
  if (pooled < count) {
    crypto.getRandomValues(pool)
    pooled = pool.length
  }
  pooled -= count
  return pooled
}

/** The pool `takeRandomBytes` indexes into. */
export const randomPool = (): Uint8Array => pool

/** `2 × byteCount` lower-case hex digits. */
export const randomHex = (byteCount: number): string => {
  const at = takeRandomBytes(byteCount)
  let out = ''
  for (let index = at; index < at + byteCount; index += 1) out += hexDigits[pool[index]]
  return out
}

/** `length` characters of `alphabet` (at most 256 of them; the slight bias of `byte % size` is of no matter for ids). */
export const randomFromAlphabet = (length: number, alphabet: string): string => {
  const at = takeRandomBytes(length)
  let out = ''
  for (let index = at; index < at + length; index += 1)
    out += alphabet[pool[index] % alphabet.length]
  return out
}

/** The hex digits of a byte, for callers that lay bytes out themselves (`time-ordered-id.ts`). */
export const hexOfByte = (byte: number): string => hexDigits[byte]
