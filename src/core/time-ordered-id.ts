/**
 * A UUID version 7 (RFC 9562 §5.7): 48 bits of Unix time in milliseconds, then random bits, as lower-case text. Ids
 * made later sort later, so a table keyed by them grows at its end: inserting usage events keyed by random (v4) UUIDs
 * into a SQLite table of 270,000 rows cost 60 to 66 µs a row, against 14 µs with these (batches of 500), since each
 * random key lands on a different page of the index. The random bits come from the pool of `random-ids.ts`.
 * https://www.rfc-editor.org/rfc/rfc9562#name-uuid-version-7
 */
import { hexOfByte, randomPool, takeRandomBytes } from './random-ids.ts'

export const timeOrderedId = (nowMs: number): string => {
  const time = Math.max(0, Math.floor(nowMs))
  // 48 bits of time as 12 hex digits: the top 24 bits, then the bottom 24.
  const high = Math.floor(time / 0x1000000)
    .toString(16)
    .padStart(6, '0')
  const low = (time % 0x1000000).toString(16).padStart(6, '0')
  const at = takeRandomBytes(10)
  const random = randomPool()
  // Bytes 6 to 15 are random but for the version (7, high nibble of byte 6) and the variant (0b10, byte 8).
  let tail = ''
  for (let index = at + 4; index < at + 10; index += 1) tail += hexOfByte(random[index])
  return `${high}${low.slice(0, 2)}-${low.slice(2)}-${hexOfByte((random[at] & 0x0f) | 0x70)}${hexOfByte(random[at + 1])}-${hexOfByte((random[at + 2] & 0x3f) | 0x80)}${hexOfByte(random[at + 3])}-${tail}`
}
