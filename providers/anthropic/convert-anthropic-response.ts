import type { ChatResult, ReasoningPart, TextPart, ToolCallPart } from '../spec/chat-types.ts'
import {
  anthropicRedactedThinkingBlockSchema,
  anthropicTextBlockSchema,
  anthropicThinkingBlockSchema,
  anthropicToolUseBlockSchema,
  type AnthropicMessage,
} from './anthropic-api.ts'
import { convertAnthropicUsage } from './convert-anthropic-usage.ts'
import { mapAnthropicStopReason } from './map-anthropic-stop-reason.ts'

type Part = TextPart | ToolCallPart | ReasoningPart

const partOf = (block: { type: string }): Part | null => {
  const text = anthropicTextBlockSchema.safeParse(block)
  if (text.success) return { type: 'text', text: text.data.text }
  const toolUse = anthropicToolUseBlockSchema.safeParse(block)
  if (toolUse.success) {
    const { id, name, input } = toolUse.data
    return { type: 'tool-call', id, name, arguments: JSON.stringify(input ?? {}) }
  }
  const thinking = anthropicThinkingBlockSchema.safeParse(block)
  if (thinking.success) {
    const { thinking: reasoning, signature } = thinking.data
    return { type: 'reasoning', text: reasoning, ...(signature ? { signature } : {}) }
  }
  const redacted = anthropicRedactedThinkingBlockSchema.safeParse(block)
  if (redacted.success) return { type: 'reasoning', text: '', redactedData: redacted.data.data }
  return null
}

/**
 * A Messages response → canonical result. Adjacent text blocks are joined into one text part (Chat Completions has one
 * `content` string); block types the canonical shape cannot hold (server tool results, citations) are left out.
 * `created` is ours: Anthropic responses carry no timestamp.
 */
export const convertAnthropicResponse = (
  message: AnthropicMessage,
  created: number
): ChatResult => {
  const content: Part[] = []
  for (const block of message.content) {
    const part = partOf(block)
    if (part === null) continue
    const last = content.at(-1)
    if (part.type === 'text' && last?.type === 'text') last.text += part.text
    else content.push(part)
  }
  return {
    id: message.id,
    model: message.model,
    created,
    choices: [{ index: 0, content, finishReason: mapAnthropicStopReason(message.stop_reason) }],
    usage: convertAnthropicUsage(message.usage),
  }
}
