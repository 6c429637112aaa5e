/**
 * OpenAI `usage` → canonical `Usage`, for every OpenAI-shaped body we read (chat JSON, the streamed usage chunk,
 * embeddings). A count the upstream did not send stays `null`: unknown is not zero.
 * https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage
 */
import type { Usage } from '../spec/chat-types.ts'

const count = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null

const record = (value: unknown): Record<string, unknown> | null =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null

/** Reads an OpenAI `usage` object of any provenance; `null` when it is not an object at all. */
export const convertOpenAIUsage = (usage: unknown): Usage | null => {
  const wire = record(usage)
  if (!wire) return null
  const promptDetails = record(wire.prompt_tokens_details)
  const completionDetails = record(wire.completion_tokens_details)
  return {
    inputTokens: count(wire.prompt_tokens),
    outputTokens: count(wire.completion_tokens),
    cachedInputTokens: count(promptDetails?.cached_tokens),
    cacheWriteInputTokens: count(promptDetails?.cache_write_tokens),
    reasoningTokens: count(completionDetails?.reasoning_tokens),
  }
}

/**
 * Reads a Responses API `usage` (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`,
 * `output_tokens_details.reasoning_tokens`); `null` when it is not an object at all.
 * https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage
 */
export const convertOpenAIResponsesUsage = (usage: unknown): Usage | null => {
  const wire = record(usage)
  if (!wire) return null
  const inputDetails = record(wire.input_tokens_details)
  const outputDetails = record(wire.output_tokens_details)
  return {
    inputTokens: count(wire.input_tokens),
    outputTokens: count(wire.output_tokens),
    cachedInputTokens: count(inputDetails?.cached_tokens),
    cacheWriteInputTokens: null,
    reasoningTokens: count(outputDetails?.reasoning_tokens),
  }
}
