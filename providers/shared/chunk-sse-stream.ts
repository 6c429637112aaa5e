/**
 * An upstream's SSE body as canonical chunks: each event goes to `convert` (which keeps its own state and throws a
 * `ProviderError` for an event it cannot read), and the stream fails the way every stream parser fails
 * (`sse-stream-failures.ts`): a body that breaks is a connection failure; one that ends before `complete()` says the
 * stream finished is a truncation. Pulled: an event that converts to nothing reads the next one. `body` is best the
 * transport's own reader (`bodyReader`): the events are parsed from it with no stream in between.
 */
import type { ChatChunk } from '../spec/chat-types.ts'
import type { ChunkReader } from '../spec/provider-adapter.ts'
import { readSseEvents, type SseEvent } from './parse-sse.ts'
import {
  explainStreamFailure,
  streamClosedEarly,
  streamReadFailure,
} from './sse-stream-failures.ts'

export const chunkSseStream = (
  body: ReadableStream<Uint8Array> | ChunkReader<Uint8Array>,
  options: {
    providerId: string
    convert: (event: SseEvent) => ChatChunk[]
    /** Whether the events so far make a whole stream (its end may come now). */
    complete: () => boolean
  }
): ReadableStream<ChatChunk> => {
  const events = readSseEvents(body)
  const { providerId, convert, complete } = options
  return new ReadableStream<ChatChunk>({
    async pull(controller) {
      for (;;) {
        let result: ReadableStreamReadResult<SseEvent>
        try {
          result = await events.read()
        } catch (error) {
          controller.error(streamReadFailure(error, providerId))
          return
        }
        if (result.done) {
          if (complete()) controller.close()
          else controller.error(streamClosedEarly(providerId))
          return
        }
        let chunks: ChatChunk[]
        try {
          chunks = convert(result.value)
        } catch (error) {
          controller.error(await explainStreamFailure(error, events, providerId))
          await events.cancel(error).catch(() => {})
          return
        }
        if (chunks.length > 0) {
          for (const chunk of chunks) controller.enqueue(chunk)
          return
        }
      }
    },
    cancel(reason) {
      return events.cancel(reason)
    },
  })
}
