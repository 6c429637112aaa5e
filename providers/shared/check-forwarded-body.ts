/**
 * A same-dialect answer goes to the client as the upstream sent it, unparsed. Before its first byte does, this checks
 * that a 2xx answer has the shape of what the API sends, so that a misconfigured base URL, a captive portal or a proxy
 * error page becomes a 502 (and a fallback to the next target) rather than a 200 that the client's SDK cannot read:
 * a non-streamed answer must be a JSON object (`{` ... `}`), a stream must open with an SSE line whose `data:`, when
 * the first chunk shows one, holds JSON (or OpenAI's `[DONE]`). It reads a few bytes at each end, never the whole body.
 */

const isSpace = (byte: number): boolean =>
  byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09

/** The index of the first byte that is neither a UTF-8 byte order mark nor whitespace. */
const skipLeadingSpace = (bytes: Uint8Array): number => {
  let index = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  while (index < bytes.length && isSpace(bytes[index])) index += 1
  return index
}

const isLetter = (byte: number): boolean =>
  (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)

const dataField = [0x64, 0x61, 0x74, 0x61, 0x3a] // "data:"

/** The index just past the first `data:` at the start of a line, or -1. */
const firstDataValue = (bytes: Uint8Array, from: number): number => {
  for (let line = from; line < bytes.length;) {
    let matches = line + dataField.length <= bytes.length
    for (let offset = 0; matches && offset < dataField.length; offset += 1)
      matches = bytes[line + offset] === dataField[offset]
    if (matches) return line + dataField.length
    const newline = bytes.indexOf(0x0a, line)
    if (newline === -1) return -1
    line = newline + 1
  }
  return -1
}

/** Why a forwarded 2xx answer is not what the API sends, or `null` when it looks right (or cannot be judged yet). */
export const forwardedBodyProblem = (
  bytes: Uint8Array,
  expected: 'json' | 'sse'
): string | null => {
  const start = skipLeadingSpace(bytes)
  if (expected === 'json') {
    let end = bytes.length - 1
    while (end >= start && isSpace(bytes[end])) end -= 1
    return start < bytes.length && bytes[start] === 0x7b && bytes[end] === 0x7d
      ? null
      : 'The upstream answered with a body that is not a JSON object.'
  }
  if (start === bytes.length) return null
  const first = bytes[start]
  if (first !== 0x3a /* : */ && !isLetter(first))
    return 'The upstream answered with a body that is not an event stream.'
  const value = firstDataValue(bytes, start)
  if (value === -1) return null
  let index = value
  if (bytes[index] === 0x20) index += 1
  // Nothing to judge yet: the line goes on in the next chunk, or it is an empty `data:` (a heartbeat).
  if (index >= bytes.length || bytes[index] === 0x0a || bytes[index] === 0x0d) return null
  return bytes[index] === 0x7b /* { */ || bytes[index] === 0x5b /* [ */
    ? null
    : 'The upstream answered with an event stream whose data is not JSON.'
}
