/**
 * Assembles the complete answer from a forwarded Messages body, for the prompt cache (`ForwardSummary.answer`): a
 * streamed body goes through the SSE parser and the same per-event conversion as a converted stream
 * (`convertAnthropicStreamEvent`), then into the chunk assembler; a JSON body is read once it has ended, with the same
 * conversion as a converted call (`convertAnthropicResponse`). Unlike the usage tap it parses every event, so it is
 * created only for calls that want the answer. It never throws and never delays the body.
 *
 * The answer is `null` unless the body held all of it: a stream must reach `message_stop`; an `error` event, an
 * unreadable event, a non-streamed message without a `stop_reason`, and any operation but `messages` (token counts)
 * give `null`. So does a stream with a `redacted_thinking` block, which the canonical chunks cannot carry: the answer
 * would lack a block the non-streamed answer keeps. https://docs.claude.com/en/docs/build-with-claude/streaming
 */
import { createChatResultAssembler } from '../shared/assemble-chat-result.ts'
import { createJsonTap } from '../shared/create-json-tap.ts'
import { SseParser, type SseEvent } from '../shared/parse-sse.ts'
import type { ChatResult } from '../spec/chat-types.ts'
import type { Operation } from '../spec/operation.ts'
import type { ForwardSummary, ForwardTap } from '../spec/provider-adapter.ts'
import { anthropicMessageSchema } from './anthropic-api.ts'
import { convertAnthropicResponse } from './convert-anthropic-response.ts'
import { convertAnthropicStreamEvent, createAnthropicStreamState } from './convert-anthropic-stream.ts'

export type AnthropicAnswerTapOptions = {
  operation: Operation
  stream: boolean
  /** Names the provider in the conversion's errors (which the tap only counts as "no answer"). */
  providerId: string
  /** Unix seconds for `created` (Anthropic sends no timestamp). */
  created: number
}

/** The usage is the usage tap's to report; the answer carries its own. */
const answered = (answer: ChatResult | null): ForwardSummary => ({ usage: null, answer })

const createStreamTap = (options: AnthropicAnswerTapOptions): ForwardTap => {
  const parser = new SseParser()
  const state = createAnthropicStreamState(options)
  const assembler = createChatResultAssembler()
  let failed = false
  const take = (events: SseEvent[]): void => {
    for (const event of events) {
      if (state.stopped) return
      for (const chunk of convertAnthropicStreamEvent(state, event)) assembler.push(chunk)
    }
  }
  return {
    write(chunk) {
      if (failed || state.stopped) return
      try {
        take(parser.push(chunk))
      } catch {
        failed = true
      }
    },
    finish() {
      if (!failed && !state.stopped) {
        try {
          take(parser.end())
        } catch {
          failed = true
        }
      }
      return answered(failed || !state.stopped || state.redactedThinking ? null : assembler.finish())
    },
  }
}

const convertBody = (value: unknown, created: number): ChatResult | null => {
  const parsed = anthropicMessageSchema.safeParse(value)
  if (!parsed.success || !parsed.data.stop_reason) return null
  return convertAnthropicResponse(parsed.data, created)
}

const createBodyTap = (options: AnthropicAnswerTapOptions): ForwardTap => {
  const json = createJsonTap((value) => answered(convertBody(value, options.created)))
  return {
    write: json.write,
    finish: () => answered(json.finish().answer ?? null),
  }
}

export const createAnthropicAnswerTap = (options: AnthropicAnswerTapOptions): ForwardTap => {
  if (options.operation !== 'messages') return { write() {}, finish: () => answered(null) }
  return options.stream ? createStreamTap(options) : createBodyTap(options)
}
