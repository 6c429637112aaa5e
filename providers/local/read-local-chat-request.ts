/**
 * The canonical request as a local model can run it: the conversation as chat-template messages and the generation
 * settings, checked. What the model cannot honour is a 400 naming the field, never dropped in silence: tools (the
 * provider does not parse tool calls out of generated text yet), images (text-only models), JSON output modes (nothing
 * constrains the sampling to JSON). Out-of-range sampling values are 400s too, as the APIs they mimic answer.
 * Reasoning from an earlier assistant turn is left out of the prompt, as Anthropic's API does with past thinking.
 *
 * Sampling values the client leaves out come from the model's `generation_config.json` (as vLLM does), else OpenAI's
 * defaults: temperature 1, top_p 1, no top_k.
 */
import type { ChatMessage, ChatRequest } from '../spec/chat-types.ts'
import { localInvalidRequest } from './local-errors.ts'
import type { TemplateMessage } from './local-worker-messages.ts'
import type { SamplingDefaults } from './read-model-folder.ts'

export type LocalChatRequest = {
  messages: TemplateMessage[]
  /** `null`: up to the end of the context window. */
  maxTokens: number | null
  temperature: number
  topP: number
  topK: number
  /** `null`: the client sent none, and a random one is used. */
  seed: number | null
  stop: string[]
}

const textOf = (message: ChatMessage, index: number): string => {
  if (message.role === 'system') return message.content
  if (message.role === 'tool')
    throw localInvalidRequest(
      'Tool results cannot be sent to a local model: it cannot call tools.',
      `messages.${index}`
    )
  const texts: string[] = []
  for (const part of message.content) {
    if (part.type === 'text') texts.push(part.text)
    else if (part.type === 'image')
      throw localInvalidRequest(
        'Images cannot be sent to a local model: it reads text only.',
        `messages.${index}.content`
      )
    else if (part.type === 'tool-call')
      throw localInvalidRequest(
        'Tool calls cannot be sent to a local model: it cannot call tools.',
        `messages.${index}.tool_calls`
      )
  }
  return texts.join('\n')
}

const checkRange = (options: {
  value: number | undefined
  param: string
  valid: (value: number) => boolean
  expected: string
}): void => {
  const { value, param, valid, expected } = options
  if (value !== undefined && !valid(value))
    throw localInvalidRequest(`\`${param}\` must be ${expected}; got ${value}.`, param)
}

/** Throws a 400 `ProviderError` for what the model cannot do as asked. */
export const readLocalChatRequest = (
  request: ChatRequest,
  options: { modelId: string; defaults: SamplingDefaults }
): LocalChatRequest => {
  const { modelId, defaults } = options
  if (request.tools !== undefined && request.tools.length > 0)
    throw localInvalidRequest(
      `The model \`${modelId}\` cannot call tools: the local model provider does not support tools yet.`,
      'tools'
    )
  if (request.toolChoice?.type === 'required' || request.toolChoice?.type === 'tool')
    throw localInvalidRequest(
      `The model \`${modelId}\` cannot call tools: \`tool_choice\` cannot require one.`,
      'tool_choice'
    )
  if (request.responseFormat !== undefined && request.responseFormat.type !== 'text')
    throw localInvalidRequest(
      `The model \`${modelId}\` cannot be held to a JSON output format (\`${request.responseFormat.type}\`).`,
      'response_format'
    )
  const isInteger = Number.isInteger
  checkRange({
    value: request.maxTokens,
    param: 'max_tokens',
    valid: (value) => isInteger(value) && value >= 1,
    expected: 'an integer of at least 1',
  })
  checkRange({
    value: request.temperature,
    param: 'temperature',
    valid: (value) => value >= 0 && value <= 2,
    expected: 'between 0 and 2',
  })
  checkRange({
    value: request.topP,
    param: 'top_p',
    valid: (value) => value > 0 && value <= 1,
    expected: 'greater than 0 and at most 1',
  })
  checkRange({
    value: request.topK,
    param: 'top_k',
    valid: (value) => isInteger(value) && value >= 0,
    expected: 'an integer of at least 0',
  })
  checkRange({
    value: request.seed,
    param: 'seed',
    valid: (value) => isInteger(value),
    expected: 'an integer',
  })
  const stop = request.stop ?? []
  if (stop.some((sequence) => sequence === ''))
    throw localInvalidRequest('Stop sequences must not be empty.', 'stop')

  const messages: TemplateMessage[] = request.messages.map((message, index) => ({
    role: message.role === 'system' ? 'system' : message.role === 'user' ? 'user' : 'assistant',
    content: textOf(message, index),
  }))
  return {
    messages,
    maxTokens: request.maxTokens ?? null,
    temperature: request.temperature ?? defaults.temperature ?? 1,
    topP: request.topP ?? defaults.topP ?? 1,
    topK: request.topK ?? defaults.topK ?? 0,
    seed: request.seed ?? null,
    stop,
  }
}
