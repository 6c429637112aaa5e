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
import {
  createBodyAnswerTap,
  createStreamAnswerTap,
  noAnswerTap,
} from '../shared/create-answer-tap.ts'
import type { ChatChunk, ChatResult } from '../spec/chat-types.ts'
import type { Operation } from '../spec/operation.ts'
import type { ForwardTap } from '../spec/provider-adapter.ts'
import { anthropicMessageSchema } from './anthropic-api.ts'
import { convertAnthropicResponse } from './convert-anthropic-response.ts'
import {
  convertAnthropicStreamEvent,
  createAnthropicStreamState,
} from './convert-anthropic-stream.ts'

export type AnthropicAnswerTapOptions = {
  operation: Operation
  stream: boolean
  /** Names the provider in the conversion's errors (which the tap only counts as "no answer"). */
  providerId: string
  /** Unix seconds for `created` (Anthropic sends no timestamp). */
  created: number
  /** Given each canonical chunk of a streamed body as it is read (`createStreamAnswerTap`). */
  onChunk?: (chunk: ChatChunk) => void
}

const createStreamTap = (options: AnthropicAnswerTapOptions): ForwardTap => {
  const state = createAnthropicStreamState(options)
  return createStreamAnswerTap({
    convert: (event) => convertAnthropicStreamEvent(state, event),
    ended: () => state.stopped,
    complete: () => !state.redactedThinking,
    onChunk: options.onChunk,
  })
}

const convertBody = (value: unknown, created: number): ChatResult | null => {
  const parsed = anthropicMessageSchema.safeParse(value)
  if (!parsed.success || !parsed.data.stop_reason) return null
  return convertAnthropicResponse(parsed.data, created)
}

export const createAnthropicAnswerTap = (options: AnthropicAnswerTapOptions): ForwardTap => {
  if (options.operation !== 'messages') return noAnswerTap()
  return options.stream
    ? createStreamTap(options)
    : createBodyAnswerTap((value) => convertBody(value, options.created))
}
