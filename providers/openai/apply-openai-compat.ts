/**
 * What an OpenAI-compatible server accepts differs from OpenAI's own API (vLLM, Ollama, Groq, older proxies): these
 * flags describe one configured instance so no code asks `if (vendor === ...)`. All `true` = the real OpenAI API.
 */
export type OpenAICompat = {
  /** Accepts `role: "developer"`; when false such messages are sent as `system`. */
  developerRole: boolean
  /** Accepts `stream_options`; when false it is removed. */
  streamOptions: boolean
  /** Accepts `max_completion_tokens`; when false it is sent as the older `max_tokens`. */
  maxCompletionTokens: boolean
  /** Has the Responses API (`POST /responses`); when false, Responses requests are converted to Chat Completions. */
  responses: boolean
}

export const realOpenAICompat: OpenAICompat = {
  developerRole: true,
  streamOptions: true,
  maxCompletionTokens: true,
  responses: true,
}

const renameDeveloper = (messages: unknown): unknown => {
  if (!Array.isArray(messages)) return messages
  if (!messages.some((message) => (message as { role?: unknown } | null)?.role === 'developer'))
    return messages
  return messages.map((message) =>
    (message as { role?: unknown } | null)?.role === 'developer'
      ? { ...(message as object), role: 'system' }
      : message
  )
}

/**
 * Rewrites a chat request body for a server with `compat`'s limits. Returns `body` itself when nothing changes,
 * else a shallow copy: the client's body is never mutated.
 */
export const applyOpenAICompat = (
  body: Record<string, unknown>,
  compat: OpenAICompat
): Record<string, unknown> => {
  const renameMaxTokens = !compat.maxCompletionTokens && body.max_completion_tokens !== undefined
  const dropStreamOptions = !compat.streamOptions && 'stream_options' in body
  const messages = compat.developerRole ? body.messages : renameDeveloper(body.messages)
  if (!renameMaxTokens && !dropStreamOptions && messages === body.messages) return body
  const out: Record<string, unknown> = { ...body, messages }
  if (renameMaxTokens) {
    out.max_tokens = out.max_completion_tokens
    delete out.max_completion_tokens
  }
  if (dropStreamOptions) delete out.stream_options
  return out
}
