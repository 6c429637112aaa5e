/**
 * When the gateway asks an OpenAI-compatible upstream for `stream_options.include_usage` that the client did not ask
 * for (so that every streamed token is accounted for), the upstream adds `"usage":null` to every chunk and one last
 * chunk with `choices: []` and the usage. The client must receive what it would have received without the option
 * (wire-notes §1: the key is absent, and naive clients crash on `choices: []`), so this removes both from the bytes
 * after the side tap has read them. A chunk with empty `choices` but no usage (Azure's `prompt_filter_results`) is not
 * the injected one and passes. Incremental: events may be split anywhere across chunks; only complete events
 * (ending in a blank line) are rewritten, the rest waits for the next chunk.
 * https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options
 *
 * This runs on every streamed chat of a client that did not ask for usage (the official SDKs' default), so it is
 * written for speed: events are cut with `indexOf`, keys found by `find-quoted.ts`, the rewrite is done by hand, and
 * an ASCII chunk's bytes are copied around what is removed rather than re-encoded (`createUsageStripper`).
 * What it removes is exactly what the regular expressions `usageNullPattern` and `usageOnlyChunkPattern` describe
 * (a test holds the two to the same output); a stream framed with `\r` takes the regular expressions themselves.
 */
import { createUtf8ChunkDecoder, forgetDecoded } from '../shared/decode-utf8-chunks.ts'
import { createQuotedFinder } from '../shared/find-quoted.ts'
import { maxSseEventChars } from '../shared/parse-sse.ts'
import { concatBytes } from '../shared/read-response-bytes.ts'

/** `"usage": null` with the comma before it (when a `,` or `}` follows), or else with the comma after it. */
const usageNullPattern = /,\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,/g
/** The trailing usage chunk: an empty `choices` array and a `usage` object (and no `delta`, checked apart). */
const usageOnlyChunkPattern = /"choices"\s*:\s*\[\s*\]/
const usageObjectPattern = /"usage"\s*:\s*\{/
const eventEnd = /\r?\n\r?\n/g

export type UsageStripper = {
  /** The bytes to send for this chunk (possibly empty while an event is incomplete). */
  push(chunk: Uint8Array): Uint8Array
  /** What is left when the stream ends (an unterminated last event, passed through as it came). */
  end(): Uint8Array
}

/** The characters of `\s` in a JavaScript regular expression. */
const isSpace = (code: number): boolean =>
  code === 0x20 ||
  (code >= 0x09 && code <= 0x0d) ||
  code === 0xa0 ||
  code === 0x1680 ||
  (code >= 0x2000 && code <= 0x200a) ||
  code === 0x2028 ||
  code === 0x2029 ||
  code === 0x202f ||
  code === 0x205f ||
  code === 0x3000 ||
  code === 0xfeff

/** The index of the first character at or after `index` that is not a space, or `end`. */
const skipSpace = (text: string, index: number, end: number): number => {
  while (index < end && isSpace(text.charCodeAt(index))) index += 1
  return index
}

const findUsage = createQuotedFinder('usage')
const findChoices = createQuotedFinder('choices')

/**
 * Every search below runs over a whole chunk's text, bounded by the event's end: no event is sliced out. A pattern
 * without a line feed that starts inside an event (`"usage"`, `data:`) also ends inside it, since events end in a
 * blank line, so only the positions where a match starts need bounding.
 */

/** `usageOnlyChunkPattern.test(text.slice(start, end))`. */
const hasEmptyChoices = (text: string, start: number, end: number): boolean => {
  for (let at = findChoices(text, start); at !== -1 && at < end; at = findChoices(text, at + 1)) {
    let index = skipSpace(text, at + 9, end)
    if (index >= end || text.charCodeAt(index) !== 0x3a /* : */) continue
    index = skipSpace(text, index + 1, end)
    if (index >= end || text.charCodeAt(index) !== 0x5b /* [ */) continue
    index = skipSpace(text, index + 1, end)
    if (index < end && text.charCodeAt(index) === 0x5d /* ] */) return true
  }
  return false
}

/**
 * `[start, end)` pairs to remove, in order and not overlapping. Reused from chunk to chunk by counting (`length`)
 * rather than emptying the array, which would give up its backing store and make a new one on the next chunk.
 */
class Cuts {
  readonly at: number[] = []
  length = 0
  add(start: number, end: number): void {
    this.at[this.length] = start
    this.at[this.length + 1] = end
    this.length += 2
  }
}

/**
 * The rewrite of the event `text[start, end)`, as cuts appended to `cuts`: nothing for an event that is not data or is
 * `[DONE]`; the event and `dropEnd - end` characters after it (its blank line) for the injected usage chunk
 * (`usageOnlyChunkPattern`, `usageObjectPattern`, no `"delta"`); otherwise what `usageNullPattern` removes, a
 * `"usage": null` with the comma before it or after it. `usage` is the first `"usage"` at or after `start` (-1: none
 * to the end of the text); returns the first one at or after `end`, so that a chunk's events share one search.
 */
const cutEvent = (
  text: string,
  start: number,
  end: number,
  dropEnd: number,
  usage: number,
  cuts: Cuts
): number => {
  const first = skipSpace(text, start, end)
  if (!text.startsWith('data:', first) || text.startsWith('data: [DONE]', first)) {
    while (usage !== -1 && usage < end) usage = findUsage(text, usage + 1)
    return usage
  }
  const mark = cuts.length
  let usageObject = false
  // Where the last cut ended: the next match starts after it, as a global `replace` goes on after its last match.
  let copied = start
  for (; usage !== -1 && usage < end; usage = findUsage(text, Math.max(usage + 1, copied))) {
    let index = skipSpace(text, usage + 7, end)
    if (index >= end || text.charCodeAt(index) !== 0x3a /* : */) continue
    index = skipSpace(text, index + 1, end)
    if (index < end && text.charCodeAt(index) === 0x7b /* { */) {
      usageObject = true
      continue
    }
    if (!text.startsWith('null', index)) continue
    const nullEnd = index + 4
    let comma = usage - 1
    while (comma >= copied && isSpace(text.charCodeAt(comma))) comma -= 1
    const next = skipSpace(text, nullEnd, end)
    const following = next >= end ? -1 : text.charCodeAt(next)
    let cutStart = -1
    let cutEnd = -1
    if (
      comma >= copied &&
      text.charCodeAt(comma) === 0x2c /* , */ &&
      (following === 0x2c || following === 0x7d) /* , } */
    ) {
      cutStart = comma
      cutEnd = nullEnd
    } else if (following === 0x2c) {
      cutStart = usage
      cutEnd = next + 1
    }
    if (cutStart === -1) continue
    cuts.add(cutStart, cutEnd)
    copied = cutEnd
  }
  if (usageObject && hasEmptyChoices(text, start, end)) {
    const delta = text.indexOf('"delta"', start)
    if (delta === -1 || delta >= end) {
      cuts.length = mark
      cuts.add(start, dropEnd)
    }
  }
  return usage
}

/** `text` without the `[start, end)` pairs of `cuts` (in order, not overlapping). */
const cutText = (text: string, cuts: Cuts): string => {
  if (cuts.length === 0) return text
  const at = cuts.at
  let out = ''
  let copied = 0
  for (let index = 0; index < cuts.length; index += 2) {
    out += text.slice(copied, at[index])
    copied = at[index + 1]
  }
  return out + text.slice(copied)
}

export const rewriteEvent = (event: string): string => {
  const cuts = new Cuts()
  cutEvent(event, 0, event.length, event.length, findUsage(event, 0), cuts)
  return cutText(event, cuts)
}

/** The same rewrite by the regular expressions, for streams framed with `\r` (and as the reference in tests). */
export const rewriteEventByPattern = (event: string): string => {
  const data = event.trimStart()
  if (!data.startsWith('data:') || data.startsWith('data: [DONE]')) return event
  if (
    usageOnlyChunkPattern.test(event) &&
    usageObjectPattern.test(event) &&
    !event.includes('"delta"')
  )
    return ''
  return event.replace(usageNullPattern, '')
}

const encoder = new TextEncoder()
const empty = new Uint8Array(0)

/**
 * `bytes[0, length)` without the `[start, end)` pairs of `cuts`, cut in place: what is kept moves left over what is
 * removed, and the result is a view of `bytes` (the chunk itself when nothing is cut). The chunk is the stripper's to
 * reuse (`createClientRewrite`), and allocating a new array per chunk cost more than the copying, once the young
 * generation's collections are counted (docs/benchmark.md).
 */
const cutBytes = (bytes: Uint8Array, length: number, cuts: Cuts): Uint8Array => {
  if (cuts.length === 0) return length === bytes.byteLength ? bytes : bytes.subarray(0, length)
  forgetDecoded(bytes)
  const at = cuts.at
  let written = at[0]
  let copied = at[1]
  for (let index = 2; index < cuts.length; index += 2) {
    bytes.copyWithin(written, copied, at[index])
    written += at[index] - copied
    copied = at[index + 1]
  }
  bytes.copyWithin(written, copied, length)
  return bytes.subarray(0, written + length - copied)
}

/**
 * The stripper. The rewrite is found on the text (complete events only) as cuts, `[start, end)` pairs to remove;
 * when the text is ASCII, as SSE of English text nearly always is, its character indices are byte indices, and the
 * bytes sent are the chunk's own with the cuts copied out (or the chunk itself when nothing is cut), instead of the
 * rewritten text encoded anew: `TextEncoder.encode` was the stripper's largest cost. `pendingBytes` holds the bytes
 * of the incomplete rest while they are known to be ASCII.
 */
class Stripper implements UsageStripper {
  readonly #decoder = createUtf8ChunkDecoder()
  readonly #cuts = new Cuts()
  #pending = ''
  #pendingBytes: Uint8Array | null = empty
  /**
   * Chunks that went on a pending event without ending it, held apart (copies) rather than joined to `pendingBytes`
   * at each: joined once, when the event ends. Likewise `pending` grows by `+` (a rope) and is searched only then.
   */
  #pendingMore: Uint8Array[] | null = null
  /** `pending` ends with a newline (read from the chunk, not from the rope, which a read would flatten). */
  #pendingEndsLine = false

  push(chunk: Uint8Array): Uint8Array {
    const decoded = this.#decoder.decode(chunk)
    if (this.#pending.length + decoded.length > maxSseEventChars) {
      // An event that never ends is no usage chunk: sent on as it came, not held past the parser's bound.
      const held = this.#pending + decoded
      this.#setPending('')
      this.#pendingBytes = null
      this.#pendingMore = null
      return encoder.encode(held)
    }
    if (this.#pending !== '' && this.#continuesEvent(decoded)) {
      // The pending event goes on and does not end here: held, its text and bytes neither searched nor copied again
      // (a large event in many chunks cost time in the square of its length: 1.4 s for 8 MB in 64 KB chunks).
      this.#pending += decoded
      this.#pendingEndsLine = decoded.charCodeAt(decoded.length - 1) === 0x0a
      if (this.#pendingBytes !== null) {
        if (decoded.length === chunk.byteLength) (this.#pendingMore ??= []).push(chunk.slice())
        else {
          this.#pendingBytes = null
          this.#pendingMore = null
        }
      }
      return empty
    }
    if (this.#pendingMore !== null) {
      const parts = [this.#pendingBytes!, ...this.#pendingMore]
      let size = 0
      for (const part of parts) size += part.byteLength
      this.#pendingBytes = concatBytes(parts, size)
      this.#pendingMore = null
    }
    const text = this.#pending + decoded
    const cuts = this.#cuts
    cuts.length = 0
    let start = 0
    if (text.includes('\r')) {
      let out = ''
      eventEnd.lastIndex = 0
      for (let match = eventEnd.exec(text); match !== null; match = eventEnd.exec(text)) {
        const rewritten = rewriteEventByPattern(text.slice(start, match.index))
        if (rewritten !== '') out += rewritten + match[0]
        start = match.index + match[0].length
      }
      this.#setPending(start === 0 ? text : text.slice(start))
      this.#pendingBytes = null
      return out === '' ? empty : encoder.encode(out)
    }
    let usage = -2
    for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n', start)) {
      if (usage === -2) usage = findUsage(text, 0)
      usage = cutEvent(text, start, end, end + 2, usage, cuts)
      start = end + 2
    }
    // One character per byte, with nothing held back from the chunk before (`pendingBytes` is known): the chunk
    // was ASCII, or at worst had single invalid bytes, one U+FFFD each, at the same indices.
    const pendingBytes = this.#pendingBytes
    if (pendingBytes !== null && decoded.length === chunk.byteLength) {
      const bytes = pendingBytes.byteLength === 0 ? chunk : concat(pendingBytes, chunk)
      this.#setPending(start === 0 ? text : text.slice(start))
      this.#pendingBytes = start === bytes.byteLength ? empty : bytes.slice(start)
      return start === 0 ? empty : cutBytes(bytes, start, cuts)
    }
    const out = cutText(start === text.length ? text : text.slice(0, start), cuts)
    this.#setPending(start === 0 ? text : text.slice(start))
    // Back to the byte path once nothing is pending and the decoder holds nothing (the chunk ended in ASCII).
    this.#pendingBytes =
      this.#pending === '' && chunk.byteLength > 0 && chunk[chunk.byteLength - 1] < 0x80
        ? empty
        : null
    return out === '' ? empty : encoder.encode(out)
  }

  /**
   * `decoded`, read after a pending incomplete event, neither ends it nor starts another: no blank line in it or
   * across the join, and no `\r` (framed by the pattern path).
   */
  #continuesEvent(decoded: string): boolean {
    return (
      decoded !== '' &&
      !decoded.includes('\n\n') &&
      !decoded.includes('\r') &&
      !(decoded.charCodeAt(0) === 0x0a && this.#pendingEndsLine)
    )
  }

  #setPending(text: string): void {
    this.#pending = text
    this.#pendingEndsLine = text !== '' && text.charCodeAt(text.length - 1) === 0x0a
  }

  end(): Uint8Array {
    const rest = this.#pending + this.#decoder.end()
    this.#setPending('')
    this.#pendingBytes = empty
    this.#pendingMore = null
    // Nearly every stream ends on a whole event: `encode('')` still crosses into C++ for a new buffer (0.6 µs).
    return rest === '' ? empty : encoder.encode(rest)
  }
}

/** A class, not closures: a stream holds its stripper for its whole life. */
export const createUsageStripper = (): UsageStripper => new Stripper()

const concat = (head: Uint8Array, tail: Uint8Array): Uint8Array => {
  const bytes = new Uint8Array(head.byteLength + tail.byteLength)
  bytes.set(head)
  bytes.set(tail, head.byteLength)
  return bytes
}
