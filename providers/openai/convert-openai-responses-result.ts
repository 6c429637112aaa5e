/**
 * OpenAI Responses API `Response` → canonical `ChatResult`, for a Chat Completions or Messages client whose model
 * OpenAI serves only through the Responses API. https://platform.openai.com/docs/api-reference/responses/object
 *
 * Output items, in order: `message` items give text (`output_text`) and refusal parts (`refusal`, kept apart from the
 * text, as the chat converter does), `function_call` items tool calls (`call_id` as the id), `reasoning` items their summary as a reasoning part.
 * Built-in tools' items (which a converted request never asks for) are skipped.
 *
 * Finish reason from `status`: `completed` is `stop`, or `tool-calls` when the output holds function calls;
 * `incomplete` is `length` for `max_output_tokens` and `content-filter` for `content_filter`. The raw reason is the
 * incomplete reason, else the status.
 */
import type { ChatChoice, ChatResult } from '../spec/chat-types.ts'
import { emptyUsage } from '../spec/chat-types.ts'
import { convertOpenAIResponsesUsage } from './convert-openai-usage.ts'
import { mapOpenAIResponsesFinishReason } from './map-openai-responses-finish-reason.ts'
import { createResponsesFailure } from './read-openai-error.ts'

type Json = Record<string, unknown>

const isJsonObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The summary texts of a reasoning item, one paragraph each. */
const reasoningSummaryText = (item: Json): string =>
  Array.isArray(item.summary)
    ? item.summary
        .flatMap((part) => (isJsonObject(part) && typeof part.text === 'string' ? [part.text] : []))
        .join('\n\n')
    : ''

/** Function-call arguments are a JSON string on the wire. */
const argumentsOf = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : value === undefined || value === null
      ? ''
      : JSON.stringify(value)

export const convertOpenAIResponsesResult = (options: {
  response: Json
  /** The requested model, should the response leave `model` out. */
  model: string
  /** Unix seconds, should the response leave `created_at` out. */
  now: number
  providerId: string
}): ChatResult => {
  const { response } = options
  if (response.status === 'failed')
    throw createResponsesFailure({
      error: response.error,
      providerId: options.providerId,
      value: response,
    })
  const content: ChatChoice['content'] = []
  let hasToolCalls = false
  for (const item of Array.isArray(response.output) ? response.output : []) {
    if (!isJsonObject(item)) continue
    if (item.type === 'message') {
      for (const part of Array.isArray(item.content) ? item.content : []) {
        if (!isJsonObject(part)) continue
        if (part.type === 'output_text' && typeof part.text === 'string' && part.text !== '')
          content.push({ type: 'text', text: part.text })
        else if (part.type === 'refusal' && typeof part.refusal === 'string' && part.refusal !== '')
          content.push({ type: 'refusal', text: part.refusal })
      }
    } else if (item.type === 'function_call') {
      hasToolCalls = true
      content.push({
        type: 'tool-call',
        id: typeof item.call_id === 'string' ? item.call_id : '',
        name: typeof item.name === 'string' ? item.name : '',
        arguments: argumentsOf(item.arguments),
      })
    } else if (item.type === 'reasoning') {
      const text = reasoningSummaryText(item)
      if (text !== '') content.push({ type: 'reasoning', text })
    }
  }
  return {
    id: typeof response.id === 'string' ? response.id : '',
    model: typeof response.model === 'string' ? response.model : options.model,
    created: typeof response.created_at === 'number' ? response.created_at : options.now,
    choices: [
      { index: 0, content, finishReason: mapOpenAIResponsesFinishReason(response, hasToolCalls) },
    ],
    usage: convertOpenAIResponsesUsage(response.usage) ?? emptyUsage(),
  }
}
