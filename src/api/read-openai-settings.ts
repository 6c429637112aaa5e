/**
 * The request settings OpenAI's Chat Completions and Responses APIs share, read into the canonical request for a
 * converted call: the end user (`user`, and `safety_identifier`, which replaces it for abuse detection), the prompt
 * cache's grouping key (`prompt_cache_key`), the processing tier (`service_tier`) and the answer's verbosity (Chat's
 * `verbosity`, Responses' `text.verbosity`). Each is a string in the spec (shared/specs/openai-openapi.yaml:
 * `ModelResponseProperties`, `CreateChatCompletionRequest`); anything else is left out, as the upstream would refuse it.
 */
import type { ChatRequest } from '../../providers/spec/chat-types.ts'

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

export const readOpenAISettings = (
  body: Record<string, unknown>,
  request: ChatRequest,
  verbosity: unknown
): void => {
  const user = text(body.user)
  if (user !== undefined) request.user = user
  const safetyIdentifier = text(body.safety_identifier)
  if (safetyIdentifier !== undefined) request.safetyIdentifier = safetyIdentifier
  const promptCacheKey = text(body.prompt_cache_key)
  if (promptCacheKey !== undefined) request.promptCacheKey = promptCacheKey
  const serviceTier = text(body.service_tier)
  if (serviceTier !== undefined) request.serviceTier = serviceTier
  const level = text(verbosity)
  if (level !== undefined) request.verbosity = level
}
