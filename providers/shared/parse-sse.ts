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

  /** The `event:` field of the event still being read (its blank line not yet seen), if it had one. */
  get pendingEvent(): string | undefined {
    return this.#event
  }

  /** Parses a chunk; returns the events it completed. */
  push(chunk: Uint8Array | string): SseEvent[] {
    this.#buffer +=
      typeof chunk === 'string' ? chunk : (this.#decoder ??= createUtf8ChunkDecoder()).decode(chunk)
    const events: SseEvent[] = []
    let start = 0
    for (;;) {
      const lf = this.#buffer.indexOf('\n', start)
      const cr = this.#buffer.indexOf('\r', start)
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
    return events
  }

  /** Flushes a final event that was not followed by a blank line (a truncated stream). */
  end(): SseEvent[] {
    const events: SseEvent[] = []
    if (this.#decoder !== null) this.#buffer += this.#decoder.end()
    if (this.#buffer.length > 0) {
      this.#line(this.#buffer, events)
      this.#buffer = ''
    }
    this.#line('', events)
    return events
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.#data.length > 0 || this.#event !== undefined) {
        events.push({ event: this.#event, data: this.#data.join('\n'), id: this.#id })
      }
      this.#event = undefined
      this.#data = []
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.#data.push(value)
    else if (field === 'event') this.#event = value
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
      } else queue = parser.push(value)
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
