/**
 * The frame both adapters' answer taps share (`ProviderAdapter.createAnswerTap`): a streamed body goes through the one
 * SSE parser and the adapter's per-event conversion into the chunk assembler; a JSON body is converted once it has
 * ended. The adapter says only how to convert and when its stream is complete. The tap never throws and never delays
 * the body: a failure of its own is "no answer" (`null`), never a broken response.
 */
import type { ChatChunk, ChatResult } from '../spec/chat-types.ts'
import type { ForwardSummary, ForwardTap } from '../spec/provider-adapter.ts'
import { createChatResultAssembler } from './assemble-chat-result.ts'
import { createJsonTap } from './create-json-tap.ts'
import { SseParser } from './parse-sse.ts'
import type { SseEvent } from './parse-sse.ts'

/** The usage is the usage tap's to report; the answer carries its own. */
const answered = (answer: ChatResult | null): ForwardSummary => ({ usage: null, answer })

/** For operations with no answer to assemble (embeddings, token counts). */
export const noAnswerTap = (): ForwardTap => ({ write() {}, finish: () => answered(null) })

export const createStreamAnswerTap = (stream: {
  /** The canonical chunks of one event (the same conversion as the adapter's converted stream). */
  convert: (event: SseEvent) => Iterable<ChatChunk>
  /** The stream has reached its end marker (`[DONE]`, `message_stop`): later bytes are ignored. */
  ended: () => boolean
  /** Checked at the end: `false` when the answer cannot be complete even though the stream ended. */
  complete?: () => boolean
  /**
   * Given each chunk as it is assembled, so that identical requests can follow the answer while it arrives (the prompt
   * cache's single-flight). Must not throw.
   */
  onChunk?: (chunk: ChatChunk) => void
}): ForwardTap => {
  const parser = new SseParser()
  const assembler = createChatResultAssembler()
  const { onChunk } = stream
  let failed = false
  const take = (events: SseEvent[]): void => {
    for (const event of events) {
      if (stream.ended()) return
      for (const chunk of stream.convert(event)) {
        assembler.push(chunk)
        onChunk?.(chunk)
      }
    }
  }
  const attempt = (events: () => SseEvent[]): void => {
    try {
      take(events())
    } catch {
      failed = true
    }
  }
  return {
    write(chunk) {
      if (!failed && !stream.ended()) attempt(() => parser.push(chunk))
    },
    finish() {
      if (!failed && !stream.ended()) attempt(() => parser.end())
      const complete = !failed && stream.ended() && (stream.complete?.() ?? true)
      return answered(complete ? assembler.finish() : null)
    },
  }
}

/** `convert` returns `null` for a body that holds no complete answer. */
export const createBodyAnswerTap = (convert: (value: unknown) => ChatResult | null): ForwardTap => {
  const json = createJsonTap((value) => answered(convert(value)))
  return {
    write: json.write,
    finish: () => answered(json.finish().answer ?? null),
  }
}
