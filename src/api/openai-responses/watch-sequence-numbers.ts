/**
 * Follows the `sequence_number`s of a forwarded Responses stream, so that an error event the gateway appends (the
 * upstream broke off after the first byte) continues the numbering the client has seen: SDKs and Codex order and
 * de-duplicate events by it, and that it starts on an event boundary. Reads bytes, not text: each chunk (with the end of
 * the one before) is searched from its end for the last `"sequence_number":` and its digits, so a chunk costs a
 * backwards byte scan and no decoding.
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

/** Bytes of a chunk kept to scan with the next one: a key and its number cut by a chunk boundary. */
const carried = 40

export const createSequenceWatcher = () => {
  let last = -1
  let tail = new Uint8Array(0)
  return {
    write(chunk: Uint8Array): void {
      if (chunk.length === 0) return
      const joined = new Uint8Array(tail.length + chunk.length)
      joined.set(tail)
      joined.set(chunk, tail.length)
      const seen = lastSequenceNumber(joined)
      if (seen > last) last = seen
      tail = joined.slice(Math.max(0, joined.length - carried))
    },
    /** The number the next event takes. */
    next: (): number => last + 1,
    /** Whether what was written so far ends between events (a blank line), where another event may begin. */
    atEventBoundary: (): boolean =>
      tail.length === 0 ||
      (tail.length >= 2 && tail[tail.length - 1] === 0x0a && tail[tail.length - 2] === 0x0a),
  }
}
