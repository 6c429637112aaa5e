import type { ChatRequest } from '../spec/chat-types.ts'

/**
 * The OpenAI request settings a provider without them does not get (Anthropic, the local model), by their Chat
 * Completions names, for `CallContext.omittedParams`: the client's route names them in its own terms in
 * `x-gatehouse-omitted-params`. Anthropic's own `service_tier` takes other values (`auto`, `standard_only`), so an
 * OpenAI tier is not passed to it.
 */
export const unsentOpenAISettings = (request: ChatRequest): string[] => {
  const unsent: string[] = []
  if (request.promptCacheKey !== undefined) unsent.push('prompt_cache_key')
  if (request.serviceTier !== undefined) unsent.push('service_tier')
  if (request.verbosity !== undefined) unsent.push('verbosity')
  return unsent
}
