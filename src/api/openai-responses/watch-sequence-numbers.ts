/**
 * Follows the `sequence_number`s of a forwarded Responses stream, so that an error event the gateway appends (the
 * upstream broke off after the first byte) continues the numbering the client has seen: SDKs and Codex order and
 * de-duplicate events by it. Reads bytes, not text: each chunk is searched from its end for the last
 * `"sequence_number":` and its digits, so a chunk costs a backwards byte scan and no decoding.
 */
const key = new TextEncoder().encode('"sequence_number":')

/** The number after the last `"sequence_number":` in `chunk`, or -1. */
const lastSequenceNumber = (chunk: Uint8Array): number => {
  outer: for (let start = chunk.length - key.length; start >= 0; start -= 1) {
    for (let index = 0; index < key.length; index += 1)
      if (chunk[start + index] !== key[index]) continue outer
    let at = start + key.length
    while (chunk[at] === 0x20) at += 1
    let value = 0
    let digits = 0
    while (at < chunk.length && chunk[at] >= 0x30 && chunk[at] <= 0x39) {
      value = value * 10 + (chunk[at] - 0x30)
      digits += 1
      at += 1
    }
    // Cut off at the chunk's end: the whole number is in the next chunk, or an earlier one is the last whole one.
    if (digits > 0 && at < chunk.length) return value
  }
  return -1
}

export const createSequenceWatcher = () => {
  let last = -1
  return {
    write(chunk: Uint8Array): void {
      const seen = lastSequenceNumber(chunk)
      if (seen > last) last = seen
    },
    /** The number the next event takes. */
    next: (): number => last + 1,
  }
}
