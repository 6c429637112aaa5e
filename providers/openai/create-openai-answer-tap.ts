/**
 * Assembles the complete answer from a forwarded chat completion, for the prompt cache (`ForwardSummary.answer`):
 * a streamed body goes through the SSE parser and the same per-event conversion as a converted stream
 * (`convertOpenAIChatEvent`), then into the chunk assembler; a JSON body is read once it has ended, with the same
 * conversion as a converted call (`convertOpenAIChatResponse`). Unlike the usage tap it parses every event, so it is
 * created only for calls that want the answer. It never throws and never delays the body.
 *
 * The answer is `null` unless the body held all of it: a stream must reach `[DONE]` (a stream cut after one choice's
 * finish could still lack another choice), with every choice finished; an in-band error, a chunk that is not JSON or
 * of an unexpected shape, and a non-streamed choice without a `finish_reason` all give `null`, as does any operation
 * other than chat completions and responses (embeddings have no answer to assemble).
 * https://platform.openai.com/docs/api-reference/chat-streaming/streaming
 *
 * A forwarded Responses API body (`POST /v1/responses`) is assembled the same way, with the conversions a converted
 * Responses call uses (`convertOpenAIResponsesEvent`, `convertOpenAIResponsesResult`). Its answer is `null` unless the
 * canonical answer can replay it item for item: only messages, function calls and reasoning summaries (no encrypted
 * reasoning, no hosted tool's work such as a web search call), and only a response that finished (completed, or
 * incomplete: a finish reason the cache judges).
 * https://platform.openai.com/docs/api-reference/responses-streaming
 */
import {
  createBodyAnswerTap,
  createStreamAnswerTap,
  noAnswerTap,
} from '../shared/create-answer-tap.ts'
import type { ChatChunk, ChatResult } from '../spec/chat-types.ts'
import type { Operation } from '../spec/operation.ts'
import type { ForwardTap } from '../spec/provider-adapter.ts'
import { convertOpenAIChatResponse } from './convert-openai-chat-response.ts'
import { convertOpenAIResponsesResult } from './convert-openai-responses-result.ts'
import {
  convertOpenAIResponsesEvent,
  createOpenAIResponsesStreamState,
} from './parse-openai-responses-stream.ts'
import { openAIChatCompletionSchema } from './openai-api.ts'
import {
  convertOpenAIChatEvent,
  createOpenAIChatStreamState,
  type ParseOpenAIChatStreamOptions,
} from './parse-openai-chat-stream.ts'
import { extractOpenAIError } from './read-openai-error.ts'

export type OpenAIAnswerTapOptions = {
  operation: Operation
  stream: boolean
  /** Names the provider in the conversion's errors (which the tap only counts as "no answer"). */
  providerId: string
  /** Unix seconds, for servers that leave `created` out. */
  now: () => number
  /** Given each canonical chunk of a streamed body as it is read (`createStreamAnswerTap`). */
  onChunk?: (chunk: ChatChunk) => void
}

/**
 * The requested model is not known here: a server that leaves `model` out of its chunks gets `''`, which the caller
 * can fill from the model it routed to.
 */
const conversionOptions = (options: OpenAIAnswerTapOptions): ParseOpenAIChatStreamOptions => ({
  providerId: options.providerId,
  model: '',
  now: options.now(),
})

const createStreamTap = (options: OpenAIAnswerTapOptions): ForwardTap => {
  const state = createOpenAIChatStreamState()
  const conversion = conversionOptions(options)
  return createStreamAnswerTap({
    convert: (event) => convertOpenAIChatEvent(event, state, conversion),
    ended: () => state.done,
    onChunk: options.onChunk,
  })
}

const convertBody = (value: unknown, options: OpenAIAnswerTapOptions): ChatResult | null => {
  if (extractOpenAIError(value)) return null
  const parsed = openAIChatCompletionSchema.safeParse(value)
  if (!parsed.success) return null
  const completion = parsed.data
  if (completion.choices.length === 0 || completion.choices.some((choice) => !choice.finish_reason))
    return null
  return convertOpenAIChatResponse({ completion, model: '', now: options.now() })
}

type Json = Record<string, unknown>

const isJson = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** An output item the canonical answer replays whole: a message, a function call, a reasoning summary. */
const isReplayableItem = (item: unknown): boolean => {
  if (!isJson(item)) return false
  if (item.type === 'message' || item.type === 'function_call') return true
  return (
    item.type === 'reasoning' &&
    (item.encrypted_content === undefined || item.encrypted_content === null)
  )
}

const createResponsesStreamTap = (options: OpenAIAnswerTapOptions): ForwardTap => {
  const state = createOpenAIResponsesStreamState()
  const conversion = { providerId: options.providerId, model: '', now: options.now() }
  let replayable = true
  return createStreamAnswerTap({
    convert: (event) => {
      // Each finished item is read once more here, for what the conversion leaves out.
      if (event.event === 'response.output_item.done' && replayable) {
        try {
          replayable = isReplayableItem((JSON.parse(event.data) as Json).item)
        } catch {
          replayable = false
        }
      }
      return convertOpenAIResponsesEvent(event, state, conversion)
    },
    ended: () => state.done,
    complete: () => replayable,
    onChunk: options.onChunk,
  })
}

const convertResponsesBody = (
  value: unknown,
  options: OpenAIAnswerTapOptions
): ChatResult | null => {
  if (!isJson(value) || value.object !== 'response') return null
  if (value.status !== 'completed' && value.status !== 'incomplete') return null
  if (!Array.isArray(value.output) || !value.output.every(isReplayableItem)) return null
  try {
    return convertOpenAIResponsesResult({
      response: value,
      model: '',
      now: options.now(),
      providerId: options.providerId,
    })
  } catch {
    return null
  }
}

export const createOpenAIAnswerTap = (options: OpenAIAnswerTapOptions): ForwardTap => {
  if (options.operation === 'responses')
    return options.stream
      ? createResponsesStreamTap(options)
      : createBodyAnswerTap((value) => convertResponsesBody(value, options))
  if (options.operation !== 'chat-completions') return noAnswerTap()
  return options.stream
    ? createStreamTap(options)
    : createBodyAnswerTap((value) => convertBody(value, options))
}
