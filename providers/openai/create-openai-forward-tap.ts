/**
 * Side parser for a forwarded OpenAI-shaped body: the bytes go to the client untouched, this only learns the model,
 * the usage and an in-band error, and counts a stream's chunks for an estimate of its output (`outputTokensSeen`).
 * Every parse is guarded; the tap never throws and never delays the body.
 * Streams: the usage arrives on the trailing `choices: []` chunk when the client asked for `include_usage`
 * (https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options).
 */
import { createJsonTap } from '../shared/create-json-tap.ts'
import { createQuotedFinder } from '../shared/find-quoted.ts'
import { readJsonMember } from '../shared/read-json-member.ts'
import {
  closesAtEnd,
  isJsonKey,
  jsonKey,
  lastJsonMemberValue,
  readJsonString,
  scanJsonObject,
  skipJsonSpace,
  skipJsonValue,
  type JsonMemberVisitor,
} from '../shared/scan-json.ts'
import { createUtf8ChunkDecoder } from '../shared/decode-utf8-chunks.ts'
import { maxSseEventChars, SseParser, type SseEvent } from '../shared/parse-sse.ts'
import type { Usage } from '../spec/chat-types.ts'
import type { Operation } from '../spec/operation.ts'
import type { ForwardEnd, ForwardSummary, ForwardTap } from '../spec/provider-adapter.ts'
import { convertOpenAIUsage, scanOpenAIUsage } from './convert-openai-usage.ts'
import { createOpenAIResponsesTap } from './create-openai-responses-tap.ts'
import { extractOpenAIError } from './read-openai-error.ts'

export { maxTappedJsonBytes } from '../shared/create-json-tap.ts'

type Learned = { usage: Usage | null; model?: string; error?: { message: string; type?: string } }

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const learn = (value: unknown, learned: Learned): void => {
  if (typeof value !== 'object' || value === null) return
  const body = value as Record<string, unknown>
  const error = extractOpenAIError(body)
  if (error) {
    learned.error = error.type
      ? { message: error.message, type: error.type }
      : { message: error.message }
    return
  }
  if (learned.model === undefined && typeof body.model === 'string') learned.model = body.model
  const usage = convertOpenAIUsage(body.usage)
  if (usage) learned.usage = usage
}

const keys = { usage: jsonKey('usage'), model: jsonKey('model') }

/** Stops the walk at the first `model` member, keeping where its value is. */
const visitForModel: JsonMemberVisitor<{ start: number; end: number }> = (
  bytes,
  key,
  keyEnd,
  start,
  end,
  found
) => {
  if (!isJsonKey(bytes, key, keyEnd, keys.model)) return false
  found.start = start
  found.end = end
  return true
}

/** Stateless use only (no `stream` option), so one serves every tap. */
const decoder = new TextDecoder()

/**
 * What `summarizeBody` learns from a small body parsed whole, read from its bytes instead (`scan-json.ts`), without
 * the answer built as objects: `usage`, the outermost object's last member, found from the end and read in place;
 * `model`, one of its first, by walking its members from the start. The content between is neither walked nor built,
 * only decoded once and searched for `"error"` (a native search): a 3.7 KB answer took 4.9 to 7.4 µs against 6.1 to
 * 8.4 parsed. Whatever this does not read with certainty is parsed after all (`undefined`): a body with an `"error"`
 * in it (`extractOpenAIError` reads those), one without a `usage`, a `usage` that does not belong to the outermost
 * object or is not read here, anything but a JSON object. It takes the first `model` where `JSON.parse` would keep
 * the last of two; no answer repeats it.
 */
const summarizeBytes = (bytes: Uint8Array): ForwardSummary | undefined => {
  const start = skipJsonSpace(bytes, 0)
  if (bytes[start] !== 0x7b || findError(decoder.decode(bytes), 0) !== -1) return undefined
  // No `usage` to be found (or one spelled with an escape): parsed whole, which is rare and settles it.
  const usageAt = lastJsonMemberValue(bytes, keys.usage)
  if (usageAt === -1) return undefined
  let usage: Usage | null = null
  let end: number
  if (bytes[usageAt] === 0x7b) {
    const scanned = scanOpenAIUsage(bytes, usageAt)
    if (scanned === undefined) return undefined
    usage = scanned.usage
    end = scanned.end
  } else end = skipJsonValue(bytes, usageAt)
  if (end === -1 || !closesAtEnd(bytes, end)) return undefined
  const learned: Learned = { usage }
  const model = { start: -1, end: -1 }
  if (scanJsonObject(bytes, start, visitForModel, model) === -1) return undefined
  if (model.start !== -1) {
    const name = readJsonString(bytes, model.start, model.end)
    if (name !== undefined) learned.model = name
  }
  return summary(learned)
}

const summary = (learned: Learned): ForwardSummary => {
  const out: ForwardSummary = { usage: learned.usage }
  if (learned.model !== undefined) out.model = learned.model
  if (learned.error) out.error = learned.error
  return out
}

const isJsonSpace = (code: number): boolean =>
  code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09

const findUsage = createQuotedFinder('usage')
const findError = createQuotedFinder('error', 2)

/**
 * Where the first event worth parsing starts to show in `text` from `from`, or -1: a usage object (`"usage": {`, not
 * the `"usage":null` every chunk of a stream with `include_usage` carries) or an error member. Content deltas, nearly
 * every event of a stream, never match: a quote inside a JSON string is escaped (`\"usage\"`), so text that merely
 * mentions usage does not count; a false match only costs a parse. Plain searches (`find-quoted.ts`), not a regular
 * expression, which would try its alternatives at every quote of a JSON text.
 */
const indexOfUsageOrError = (text: string, from: number): number => {
  const error = findError(text, from)
  for (
    let at = findUsage(text, from);
    at !== -1 && (error === -1 || at < error);
    at = findUsage(text, at + 7)
  ) {
    let index = at + 7
    while (isJsonSpace(text.charCodeAt(index))) index += 1
    if (text.charCodeAt(index) !== 0x3a) continue
    index += 1
    while (isJsonSpace(text.charCodeAt(index))) index += 1
    if (text.charCodeAt(index) === 0x7b) return at
  }
  return error
}

const complete: ForwardEnd = { kind: 'complete' }
const cut: ForwardEnd = { kind: 'cut' }

/**
 * `text` (the end of a stream) holds the end of an answer: `[DONE]`, or a finish reason that is not `null` (every
 * choice gets one; some servers never send `[DONE]`).
 */
const tellsFinish = (text: string): boolean => text.includes('[DONE]') || tellsFinishReason(text)

/** A quoted `finish_reason` in `text` (`null` is no finish). */
const tellsFinishReason = (text: string): boolean => {
  for (
    let at = text.indexOf('finish_reason"');
    at !== -1;
    at = text.indexOf('finish_reason"', at + 14)
  ) {
    let index = at + 14
    while (isJsonSpace(text.charCodeAt(index))) index += 1
    if (text.charCodeAt(index) !== 0x3a) continue
    index += 1
    while (isJsonSpace(text.charCodeAt(index))) index += 1
    // `null` is no finish; a quoted reason is.
    if (text.charCodeAt(index) === 0x22) return true
  }
  return false
}

/**
 * `[DONE]` in a chunk's complete events, searched as each chunk passes: only as the last event (it ends the stream),
 * so only the last few characters are searched for it. With `tellsFinishReason`, `tellsFinish` for those events.
 */
const endsWithDone = (events: string): boolean =>
  events.indexOf('[DONE]', events.length - 24) !== -1

/** `text` holds `data:` at `at`, compared by code unit (see `countDataEvents`). */
const isDataField = (text: string, at: number): boolean =>
  text.charCodeAt(at) === 0x64 &&
  text.charCodeAt(at + 1) === 0x61 &&
  text.charCodeAt(at + 2) === 0x74 &&
  text.charCodeAt(at + 3) === 0x61 &&
  text.charCodeAt(at + 4) === 0x3a

/**
 * Whether the `data:` field whose value starts at `value` of `text` carries a chunk: neither `[DONE]` (no chunk starts
 * with `[`: a chunk is a JSON object) nor empty (a line end, or the end of the text: `NaN`, which equals nothing).
 */
const carriesData = (text: string, value: number): boolean => {
  let first = text.charCodeAt(value)
  if (first === 0x20) first = text.charCodeAt(value + 1)
  return first === first && first !== 0x5b && first !== 0x0a && first !== 0x0d
}

/**
 * The events with data (`[DONE]` aside) in `events`, which start on an event boundary: a `data:` at the start or after
 * a newline (a newline inside a JSON string is escaped, so a `data:` there starts no line). It counts lines, so an
 * event of several `data:` lines would count more than once; OpenAI and the servers that speak its dialect send one.
 * Plain searches, no regular expression and nothing allocated: this runs on every chunk of every stream. It added 15
 * to 25 ns to the tap's 250 a chunk (a 170-byte content chunk, 2026-12-07); with `startsWith` and `Number.isNaN` in
 * place of the code unit compares, 30 to 50.
 */
const countDataEvents = (events: string): number => {
  let count = isDataField(events, 0) && carriesData(events, 5) ? 1 : 0
  for (let at = events.indexOf('\ndata:'); at !== -1; at = events.indexOf('\ndata:', at + 6))
    if (carriesData(events, at + 6)) count += 1
  return count
}

/**
 * The output tokens a stream carried, estimated from its events with data. OpenAI streams a chat completion one token
 * a chunk (each chunk's `delta` holds the next token, as in its reference's example,
 * https://platform.openai.com/docs/api-reference/chat/streaming, and in the recorded `chat-text.sse`: 7 content
 * chunks, `completion_tokens: 7`), and the servers that speak its dialect mostly do the same (they send each token as
 * it is sampled). The chunks that carry none: the first (the role, with an empty content), the finish chunk
 * (`delta: {}`), the usage chunk (`choices: []`) and an in-band error. A rule of thumb, for a stream whose usage did
 * not arrive: a server that sends several tokens a chunk, or the last token with the finish, makes it miss.
 */
const estimateOutputTokens = (dataEvents: number, finished: boolean, learned: Learned): number =>
  Math.max(
    0,
    dataEvents -
      1 -
      (finished ? 1 : 0) -
      (learned.usage !== null ? 1 : 0) -
      (learned.error !== undefined ? 1 : 0)
  )

/** The last characters of `before + text`: enough for `"error"` across a join and for a blank line. */
const tailOf = (before: string, text: string): string =>
  text.length >= 8 ? text.slice(-8) : (before + text).slice(-8)

/** The complete event around `index` of `events` (which starts and ends on event boundaries). */
const eventAt = (events: string, index: number): { start: number; end: number } => {
  const before = events.lastIndexOf('\n\n', index)
  const after = events.indexOf('\n\n', index)
  return { start: before === -1 ? 0 : before + 2, end: after === -1 ? events.length : after + 2 }
}

/**
 * The stream tap parses only the events that can teach it something. Each chunk is decoded and cut after its last
 * complete event (a blank line); in the complete part, the first event is read for the model while it is unknown,
 * and only the events around a usage object or an error (`indexOfUsageOrError`) are parsed. A stream's content
 * deltas cost a decode and a few searches, not a parse; their number estimates the output tokens they carried
 * (`estimateOutputTokens`). The incomplete rest waits for the next chunk. A stream framed with
 * `\r` goes to the SSE parser whole. A class, not closures: a stream holds its tap for its whole life.
 */
class StreamTap implements ForwardTap {
  readonly #parser = new SseParser()
  readonly #decoder = createUtf8ChunkDecoder()
  readonly #learned: Learned = { usage: null }
  #done = false
  #pending = ''
  #carriageReturns = false
  /** An incomplete event holds an `"error"` member (`inError`). */
  #errorPending = false
  /**
   * For `end`: an answer's end (its finish chunk, the usage chunk, `[DONE]`) is in its last events. Each chunk's
   * complete events are searched for it as they pass (`tellsFinishReason`, `endsWithDone`), and the tap counts the
   * chunks that had complete events and remembers the last one that told of a finish: the end is complete when that
   * was one of the last two. Keeping the last two chunks' text instead, to search them once at the end, saved that
   * search (70 to 130 ns a chunk) but kept two strings per stream alive across every scavenge: with 500 paced
   * streams, half of what a scavenge kept in the young generation (2026-12-07, evening, docs/benchmark.md). A
   * `\r`-framed stream, rare, still keeps its last two texts.
   */
  #batches = 0
  #finishedBatch = -2
  #last = ''
  #beforeLast = ''
  /** The last few characters of `#pending`, read instead of it (a long one is a rope the search would flatten). */
  #pendingTail = ''
  /**
   * For `outputTokensSeen`: the events with data that passed (`countDataEvents`), and whether a finish reason was
   * among them. Counted in each chunk's complete events as they pass, or, framed with `\r`, in its events as parsed.
   */
  #dataEvents = 0
  #finishSeen = false

  #handle(events: SseEvent[]): void {
    const learned = this.#learned
    for (const event of events) {
      if (this.#done) return
      const data = event.data.trim()
      if (data.startsWith('[DONE]')) this.#done = true
      else if (data === '') continue
      else if (indexOfUsageOrError(data, 0) !== -1) learn(parseJson(data), learned)
      else if (learned.model === undefined) {
        const model = readJsonMember(data, 'model', 'first')
        if (model.kind === 'found' && typeof model.value === 'string') learned.model = model.value
      }
    }
  }

  /** `countDataEvents` for the events of a stream framed with `\r`, as parsed. */
  #countParsed(events: readonly SseEvent[]): void {
    for (const event of events) {
      const data = event.data.trim()
      if (data === '' || data.startsWith('[DONE]')) continue
      this.#dataEvents += 1
      if (!this.#finishSeen && tellsFinishReason(data)) this.#finishSeen = true
    }
  }

  /** Complete events only: the parser is at an event boundary before and after each push. */
  #scan(events: string): void {
    if (this.#learned.model === undefined) {
      // The first event with data (a stream may open with a comment); a newline inside a JSON string is escaped,
      // so a `data:` after a real newline starts a line.
      const data = events.startsWith('data:') ? 0 : events.indexOf('\ndata:')
      if (data !== -1) {
        const first = eventAt(events, data + 1)
        this.#handle(this.#parser.push(events.slice(first.start, first.end)))
      }
    }
    let from = 0
    while (!this.#done && from < events.length) {
      const match = indexOfUsageOrError(events, from)
      if (match === -1) return
      const { start, end } = eventAt(events, match)
      this.#handle(this.#parser.push(events.slice(start, end)))
      from = end
    }
  }

  #take(text: string): void {
    if (this.#carriageReturns || text.includes('\r')) {
      this.#carriageReturns = true
      this.#beforeLast = this.#last
      this.#last = text
      const parsed = this.#parser.push(this.#pending + text)
      this.#pending = ''
      this.#countParsed(parsed)
      this.#handle(parsed)
      return
    }
    const pending = this.#pending
    if (pending !== '' && this.#continuesEvent(text)) {
      // The pending event goes on and does not end here: only the new text is searched, and the pending text is not
      // searched or copied again (a large event, in many chunks, cost time in the square of its length: 1.1 s for 8
      // MB in 64 KB chunks). An event that never ends is not kept past the parser's bound (the tap learns nothing
      // from it).
      this.#errorPending ||= findError(this.#pendingTail + text, 0) !== -1
      this.#pendingTail = tailOf(this.#pendingTail, text)
      this.#pending = pending.length + text.length > maxSseEventChars ? '' : pending + text
      return
    }
    const all = pending + text
    const boundary = all.lastIndexOf('\n\n')
    if (boundary === -1) {
      this.#pending = all.length > maxSseEventChars ? '' : all
      this.#pendingTail = tailOf('', all)
      this.#errorPending = findError(all, 0) !== -1
      return
    }
    const events = boundary + 2 === all.length ? all : all.slice(0, boundary + 2)
    this.#pending = boundary + 2 === all.length ? '' : all.slice(boundary + 2)
    this.#pendingTail = this.#pending === '' ? '' : tailOf('', this.#pending)
    this.#batches += 1
    this.#dataEvents += countDataEvents(events)
    // A finish reason is searched for first, whatever `[DONE]` says: the estimate needs to know it was there.
    const finishes = tellsFinishReason(events)
    if (finishes) this.#finishSeen = true
    if (finishes || endsWithDone(events)) this.#finishedBatch = this.#batches
    if (!this.#done) this.#scan(events)
    this.#errorPending = this.#pending !== '' && findError(this.#pending, 0) !== -1
  }

  /**
   * `text`, read after a pending incomplete event, neither ends it nor starts another: no blank line in it or across
   * the join, and no `\r` (which the SSE parser frames).
   */
  #continuesEvent(text: string): boolean {
    return (
      !text.includes('\n\n') &&
      !text.includes('\r') &&
      !(text.charCodeAt(0) === 0x0a && this.#pendingTail.endsWith('\n'))
    )
  }

  inError(): boolean {
    return this.#learned.error !== undefined || this.#errorPending
  }

  end(): ForwardEnd {
    const error = this.#learned.error
    if (error !== undefined) return { kind: 'error', error }
    if (this.#carriageReturns) return tellsFinish(this.#beforeLast + this.#last) ? complete : cut
    // The last event may lack its blank line (the body ended on it): it is still pending, and counts as a batch.
    const pending = this.#pending.trim() !== ''
    if (pending && tellsFinish(this.#pending)) return complete
    return this.#batches + (pending ? 1 : 0) - this.#finishedBatch <= 1 ? complete : cut
  }

  write(chunk: Uint8Array): void {
    try {
      this.#take(this.#decoder.decode(chunk))
    } catch {
      // A tap never breaks the response it watches.
    }
  }

  finish(): ForwardSummary {
    try {
      this.#take(this.#decoder.end())
      const pending = this.#pending
      // The last event may lack its blank line (the body ended on it): it counts too.
      if (pending !== '') {
        this.#dataEvents += countDataEvents(pending)
        if (!this.#finishSeen && tellsFinishReason(pending)) this.#finishSeen = true
      }
      if (!this.#done) this.#handle(this.#parser.push(pending))
      this.#pending = ''
      const last = this.#parser.end()
      // Framed with `\n`, the parser only ever had the pending event, counted above.
      if (this.#carriageReturns) this.#countParsed(last)
      this.#handle(last)
    } catch {
      // Same: whatever was learned so far is returned.
    }
    const out = summary(this.#learned)
    out.outputTokensSeen = estimateOutputTokens(this.#dataEvents, this.#finishSeen, this.#learned)
    return out
  }
}

const summarizeBody = (value: unknown): ForwardSummary => {
  const learned: Learned = { usage: null }
  learn(value, learned)
  return summary(learned)
}

/**
 * A large chat completion or embeddings list, read from its ends: `usage` is the last member of that name in the
 * tail (it follows the choices or the data), `model` the first in the head (chat) or else the last in the tail
 * (embeddings, where it follows the data). A body that starts with an error, or whose usage is not in its tail, is
 * parsed whole instead.
 */
const summarizeEnds = ({
  head,
  tail,
}: {
  head: string
  tail: string
}): ForwardSummary | undefined => {
  if (
    !head.trimStart().startsWith('{') ||
    !tail.trimEnd().endsWith('}') ||
    head.includes('"error"')
  )
    return undefined
  const usage = readJsonMember(tail, 'usage', 'last')
  if (usage.kind !== 'found') return undefined
  const headModel = readJsonMember(head, 'model', 'first')
  const model = headModel.kind === 'absent' ? readJsonMember(tail, 'model', 'last') : headModel
  if (model.kind === 'unreadable') return undefined
  const out: ForwardSummary = { usage: convertOpenAIUsage(usage.value) }
  if (model.kind === 'found' && typeof model.value === 'string') out.model = model.value
  return out
}

/** The JSON tap's readers, one object for every tap. */
const jsonReaders = { bytes: summarizeBytes, ends: summarizeEnds }

/** One tap per forwarded body: SSE for streamed chat, JSON otherwise (chat and embeddings); Responses its own. */
export const createOpenAIForwardTap = (options: {
  operation: Operation
  stream: boolean
}): ForwardTap => {
  if (options.operation === 'responses') return createOpenAIResponsesTap(options)
  return options.operation === 'chat-completions' && options.stream
    ? new StreamTap()
    : createJsonTap(summarizeBody, jsonReaders)
}
