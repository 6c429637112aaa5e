/**
 * OpenAI `chat.completion` → canonical `ChatResult`. https://platform.openai.com/docs/api-reference/chat/object
 *
 * A `refusal` becomes a refusal part, kept apart from the text (a structured-output client parses text as JSON);
 * `reasoning_content` / `reasoning` (vLLM, DeepSeek, OpenRouter) become reasoning parts.
 */
import type { ChatChoice, ChatResult } from '../spec/chat-types.ts'
import type { OpenAIChatCompletion, OpenAIMessage } from './openai-api.ts'
import { convertOpenAIUsage } from './convert-openai-usage.ts'
import { mapOpenAIFinishReason } from './map-openai-finish-reason.ts'
import { emptyUsage } from '../spec/chat-types.ts'

/** The reasoning text some OpenAI-compatible servers add to a message or delta. */
export const readReasoning = (message: OpenAIMessage): string | null => {
  const value = message.reasoning_content ?? message.reasoning
  return typeof value === 'string' && value !== '' ? value : null
}

/** Tool-call arguments are a JSON string on the wire; a few compatible servers send the object. */
export const readArguments = (value: unknown): string => {
  if (typeof value === 'string') return value
  if (value === undefined || value === null) return ''
  return JSON.stringify(value)
}

const convertContent = (message: OpenAIMessage): ChatChoice['content'] => {
  const content: ChatChoice['content'] = []
  const reasoning = readReasoning(message)
  if (reasoning !== null) content.push({ type: 'reasoning', text: reasoning })
  if (message.content) content.push({ type: 'text', text: message.content })
  if (message.refusal) content.push({ type: 'refusal', text: message.refusal })
  for (const call of message.tool_calls ?? []) {
    content.push({
      type: 'tool-call',
      id: call.id ?? '',
      name: call.function?.name ?? '',
      arguments: readArguments(call.function?.arguments),
    })
  }
  return content
}

export const convertOpenAIChatResponse = (options: {
  completion: OpenAIChatCompletion
  /** The requested model, for servers that leave `model` out. */
  model: string
  /** Unix seconds, for servers that leave `created` out. */
  now: number
}): ChatResult => {
  const { completion } = options
  return {
    id: completion.id ?? '',
    model: completion.model ?? options.model,
    created: completion.created ?? options.now,
    choices: completion.choices.map((choice, position) => ({
      index: choice.index ?? position,
      content: convertContent(choice.message),
      finishReason: mapOpenAIFinishReason(choice.finish_reason),
    })),
    usage: convertOpenAIUsage(completion.usage) ?? emptyUsage(),
  }
}
