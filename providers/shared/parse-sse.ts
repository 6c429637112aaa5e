/**
 * The only SSE parser (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 * Incremental: feed it bytes as they arrive; it yields complete events. Tolerates `\r\n` and `\r`, skips comment lines
 * (`: keep-alive`, sent by some OpenAI-compatible servers), joins multi-line `data:`.
 */
import type { ChunkReader } from '../spec/provider-adapter.ts'
import { createUtf8ChunkDecoder, type Utf8ChunkDecoder } from './decode-utf8-chunks.ts'

export type SseEvent = {
  /** The `event:` field; `undefined` when absent (OpenAI streams never send one). */
  event: string | undefined
  data: string
  id: string | undefined
}

/**
 * The most characters one event may hold (its data lines, and the line being read): past it the upstream is not
 * sending SSE a gateway can serve (one line that never ends would otherwise grow the process's memory without
 * bound). A Responses API `response.completed` with a whole long answer, or an image's base64, fits many times over.
 */
export const maxSseEventChars = 16 * 1024 * 1024

/** Thrown by `SseParser.push` (once per oversized event) when an event passes `maxSseEventChars`. */
export class SseEventTooLarge extends Error {
  constructor() {
    super(`The upstream sent a server-sent event larger than ${maxSseEventChars} characters.`)
    this.name = 'SseEventTooLarge'
  }
}

export class SseParser {
  /**
   * Not `TextDecoder`'s streaming mode, which on Node 20 misses the fast ASCII path (see decode-utf8-chunks.ts). Made
   * on the first bytes: the stream taps decode themselves and push text, and a parser lives as long as its stream.
   */
  #decoder: Utf8ChunkDecoder | null = null
  #buffer = ''
  #event: string | undefined
  #data: string[] = []
  #id: string | undefined
  /** Where the search for the next line end resumes: the buffer before it has none. */
  #scanFrom = 0
  /** Text of the line being read, set aside while no line end came (`push`). */
  #pieces: string[] = []
  #piecesChars = 0
  /** Characters in `#data`. */
  #dataChars = 0
  /** An event passed the bound: what follows is dropped up to the next blank line. */
  #dropping = false
  /** An event passed the bound during this push: `push` throws once it has kept its place. */
  #overflowed = false
  readonly #maxEventChars: number

  constructor(maxEventChars = maxSseEventChars) {
    this.#maxEventChars = maxEventChars
  }

  /** The `event:` field of the event still being read (its blank line not yet seen), if it had one. */
  get pendingEvent(): string | undefined {
    return this.#event
  }

  /**
   * Parses a chunk; returns the events it completed. Throws `SseEventTooLarge` when an event passes the bound; the
   * parser then drops that event and goes on after its end, so a caller that only watches (a tap) may keep pushing.
   */
  push(chunk: Uint8Array | string): SseEvent[] {
    const text =
      typeof chunk === 'string' ? chunk : (this.#decoder ??= createUtf8ChunkDecoder()).decode(chunk)
    // A piece with no line end (nor a `\r` before it waiting for its `\n`) is set aside, not appended: appending to
    // a string that is then searched copies the whole line again on every push.
    if (!text.includes('\n') && !text.includes('\r') && !this.#buffer.endsWith('\r')) {
      this.#pieces.push(text)
      this.#piecesChars += text.length
      if (this.#buffer.length + this.#piecesChars + this.#dataChars > this.#maxEventChars)
        this.#overflow()
      return []
    }
    if (this.#pieces.length > 0) {
      this.#buffer += this.#pieces.join('')
      this.#pieces = []
      this.#piecesChars = 0
    }
    this.#buffer += text
    const events: SseEvent[] = []
    let start = 0
    // Only what arrived since the last search can hold a line end (a `\r` held back for its `\n` included).
    const scanFrom = this.#scanFrom
    this.#scanFrom = 0
    for (;;) {
      const from = start === 0 ? scanFrom : start
      const lf = this.#buffer.indexOf('\n', from)
      const cr = this.#buffer.indexOf('\r', from)
      let end: number
      let next: number
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A trailing `\r` may be the first half of `\r\n`: wait for more input.
        if (cr === this.#buffer.length - 1) break
        end = cr
        next = this.#buffer[cr + 1] === '\n' ? cr + 2 : cr + 1
      } else if (lf !== -1) {
        end = lf
        next = lf + 1
      } else {
        break
      }
      this.#line(this.#buffer.slice(start, end), events)
      start = next
    }
    this.#buffer = this.#buffer.slice(start)
    if (this.#buffer.length + this.#dataChars > this.#maxEventChars) {
      // Keep nothing of the event; a `\r` at the very end is still looked at with what follows.
      if (!this.#dropping) this.#overflowed = true
      this.#buffer = this.#buffer.endsWith('\r') ? '\r' : ''
      this.#data = []
      this.#dataChars = 0
      this.#event = undefined
      this.#dropping = true
    }
    this.#scanFrom = this.#buffer.endsWith('\r') ? this.#buffer.length - 1 : this.#buffer.length
    if (this.#overflowed) {
      this.#overflowed = false
      throw new SseEventTooLarge()
    }
    return events
  }

  /** The event being read passed the bound: nothing of it is kept; thrown the first time. */
  #overflow(): void {
    this.#pieces = []
    this.#piecesChars = 0
    this.#buffer = ''
    this.#data = []
    this.#dataChars = 0
    this.#event = undefined
    if (this.#dropping) return
    this.#dropping = true
    throw new SseEventTooLarge()
  }

  /** Flushes a final event that was not followed by a blank line (a truncated stream). */
  end(): SseEvent[] {
    const events: SseEvent[] = []
    if (this.#pieces.length > 0) {
      this.#buffer += this.#pieces.join('')
      this.#pieces = []
      this.#piecesChars = 0
    }
    if (this.#decoder !== null) this.#buffer += this.#decoder.end()
    if (this.#buffer.length > 0) {
      this.#line(this.#buffer, events)
      this.#buffer = ''
    }
    this.#scanFrom = 0
    this.#line('', events)
    return events
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (!this.#dropping && (this.#data.length > 0 || this.#event !== undefined)) {
        events.push({ event: this.#event, data: this.#data.join('\n'), id: this.#id })
      }
      this.#event = undefined
      this.#data = []
      this.#dataChars = 0
      this.#dropping = false
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (this.#dropping) return
    if (field === 'data') {
      this.#data.push(value)
      this.#dataChars += value.length
      if (this.#dataChars > this.#maxEventChars) {
        this.#data = []
        this.#dataChars = 0
        this.#event = undefined
        this.#dropping = true
        this.#overflowed = true
      }
    } else if (field === 'event') this.#event = value
    else if (field === 'id') this.#id = value
  }
}

/**
 * A body's SSE events, read one at a time, parsed as the bytes are read: no stream between the body and the parser
 * (on Node 20 each Web stream costs microseconds per chunk). Reads reject as the body's do; `cancel` releases it.
 * What the body ends with is flushed (an event cut off by its end is still read, and then judged by the caller).
 */
export const readSseEvents = (
  body: ReadableStream<Uint8Array> | ChunkReader<Uint8Array>
): ChunkReader<SseEvent> => {
  const source = 'getReader' in body ? body.getReader() : body
  const parser = new SseParser()
  let queue: SseEvent[] = []
  let next = 0
  let ended = false
  const read = async (): Promise<ReadableStreamReadResult<SseEvent>> => {
    for (;;) {
      if (next < queue.length) return { done: false, value: queue[next++] }
      if (ended) return { done: true, value: undefined }
      const { done, value } = await source.read()
      next = 0
      if (done) {
        ended = true
        queue = parser.end()
      } else {
        try {
          queue = parser.push(value)
        } catch (error) {
          // An event past the bound: nothing more is read from this body.
          ended = true
          source.cancel(error).catch(() => {})
          throw error
        }
      }
    }
  }
  return { read, cancel: (reason) => source.cancel(reason) }
}

/** Turns a byte stream into a stream of SSE events. Cancelling the result cancels the source. */
export const parseSseStream = (body: ReadableStream<Uint8Array>): ReadableStream<SseEvent> => {
  const events = readSseEvents(body)
  return new ReadableStream<SseEvent>({
    async pull(controller) {
      const { done, value } = await events.read()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    cancel(reason) {
      return events.cancel(reason)
    },
  })
}
