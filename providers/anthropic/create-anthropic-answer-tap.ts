/**
 * Assembles the complete answer from a forwarded Messages body, for the prompt cache (`ForwardSummary.answer`): a
 * streamed body goes through the SSE parser and the same per-event conversion as a converted stream
 * (`convertAnthropicStreamEvent`), then into the chunk assembler; a JSON body is read once it has ended, with the same
 * conversion as a converted call (`convertAnthropicResponse`). Unlike the usage tap it parses every event, so it is
 * created only for calls that want the answer. It never throws and never delays the body.
 *
 * The answer is `null` unless the body held all of it: a stream must reach `message_stop`; an `error` event, an
 * unreadable event, a non-streamed message without a `stop_reason`, and any operation but `messages` (token counts)
 * give `null`. So does an answer that holds what the canonical answer cannot, which a cache hit rebuilt from it would
 * lose: a block other than text, tool use and thinking (server tool use and its results, compaction, a fallback; in a
 * stream, `redacted_thinking` too, which only the non-streamed conversion keeps), citations, a stop reason without a
 * canonical meaning (`compaction`). https://docs.claude.com/en/docs/build-with-claude/streaming
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
    complete: () => !state.lossy,
    onChunk: options.onChunk,
  })
}

/** Block types the canonical answer holds whole (`convertAnthropicResponse`). */
const replayableBlocks = new Set(['text', 'tool_use', 'thinking', 'redacted_thinking'])

/** Whether the message holds only what its canonical answer keeps (see the header). */
const isReplayable = (content: readonly { type: string; citations?: unknown }[]): boolean =>
  content.every(
    ({ type, citations }) =>
      replayableBlocks.has(type) && !(Array.isArray(citations) && citations.length > 0)
  )

const convertBody = (value: unknown, created: number): ChatResult | null => {
  const parsed = anthropicMessageSchema.safeParse(value)
  if (!parsed.success || !parsed.data.stop_reason || !isReplayable(parsed.data.content)) return null
  const result = convertAnthropicResponse(parsed.data, created)
  return result.choices[0].finishReason.unified === 'other' ? null : result
}

export const createAnthropicAnswerTap = (options: AnthropicAnswerTapOptions): ForwardTap => {
  if (options.operation !== 'messages') return noAnswerTap()
  return options.stream
    ? createStreamTap(options)
    : createBodyAnswerTap((value) => convertBody(value, options.created))
}
