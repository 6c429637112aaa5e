/**
 * OpenAI `finish_reason` → canonical finish reason; the raw value is kept for logs and passthrough.
 * https://platform.openai.com/docs/api-reference/chat/object#chat/object-choices
 */
import type { FinishReason } from '../spec/chat-types.ts'

export const mapOpenAIFinishReason = (raw: string | null | undefined): FinishReason => {
  switch (raw) {
    case 'stop':
      return { unified: 'stop', raw }
    case 'length':
      return { unified: 'length', raw }
    case 'tool_calls':
    case 'function_call':
      return { unified: 'tool-calls', raw }
    case 'content_filter':
      return { unified: 'content-filter', raw }
    default:
      return { unified: 'other', raw: raw ?? null }
  }
}
