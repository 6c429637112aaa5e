/**
 * Canonical result → an OpenAI `chat.completion` body exactly as the real API writes one
 * (https://platform.openai.com/docs/api-reference/chat/object; recorded shape in wire-notes §3): `refusal` (the
 * model's refusal, else `null`), `annotations: []`, `logprobs: null` present; `content` `null` when the answer is only
 * tool calls or a refusal; `tool_calls` only when there are some; `system_fingerprint` and
 * `service_tier` left out (both optional, and we have no true value for them).
 */
import type { ChatChoice, ChatResult, FinishReason } from '../../../providers/spec/chat-types.ts'
import { openAIUsage, type OpenAIUsage } from './openai-usage.ts'

export type OpenAIToolCall = {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

export type OpenAIChatCompletion = {
  id: string
  object: 'chat.completion'
  created: number
  model: string
  choices: Array<{
    index: number
    message: {
      role: 'assistant'
      content: string | null
      refusal: string | null
      annotations: []
      tool_calls?: OpenAIToolCall[]
    }
    logprobs: null
    finish_reason: string
  }>
  usage: OpenAIUsage
}

/** OpenAI has no `error`/`other` finish reason: those end as `stop`, the reason a client treats as a normal end. */
export const toOpenAIFinishReason = (finishReason: FinishReason): string => {
  switch (finishReason.unified) {
    case 'length':
      return 'length'
    case 'tool-calls':
      return 'tool_calls'
    case 'content-filter':
      return 'content_filter'
    default:
      return 'stop'
  }
}

/** OpenAI ids start with `chatcmpl-`; an upstream id (Anthropic `msg_…`) is kept inside one, so logs still match. */
export const toOpenAICompletionId = (id: string): string =>
  id.startsWith('chatcmpl-') ? id : `chatcmpl-${id}`

const convertChoice = (choice: ChatChoice): OpenAIChatCompletion['choices'][number] => {
  const text = choice.content.flatMap((part) => (part.type === 'text' ? [part.text] : []))
  const refusal = choice.content.flatMap((part) => (part.type === 'refusal' ? [part.text] : []))
  const toolCalls = choice.content.flatMap((part): OpenAIToolCall[] =>
    part.type === 'tool-call'
      ? [
          {
            id: part.id,
            type: 'function',
            function: { name: part.name, arguments: part.arguments },
          },
        ]
      : []
  )
  const message: OpenAIChatCompletion['choices'][number]['message'] = {
    role: 'assistant',
    content:
      text.length > 0 ? text.join('') : toolCalls.length > 0 || refusal.length > 0 ? null : '',
    refusal: refusal.length > 0 ? refusal.join('') : null,
    annotations: [],
  }
  if (toolCalls.length > 0) message.tool_calls = toolCalls
  return {
    index: choice.index,
    message,
    logprobs: null,
    finish_reason: toOpenAIFinishReason(choice.finishReason),
  }
}

export const convertToOpenAIResponse = (
  result: ChatResult,
  options: { model?: string } = {}
): OpenAIChatCompletion => ({
  id: toOpenAICompletionId(result.id),
  object: 'chat.completion',
  created: result.created,
  model: options.model ?? result.model,
  choices: result.choices.map(convertChoice),
  usage: openAIUsage(result.usage),
})
