/**
 * What the prompt cache may do with one request: the route's policy (config), the request's own controls (headers),
 * and whether the request can be cached at all.
 *
 * - `Cache-Control: no-cache`: do not read a stored answer (nor wait for one in flight), but store the new one;
 *   `no-store`: neither read nor store; `max-age=N`: accept a stored answer at most N seconds old (an older one is
 *   replaced). Other directives are ignored, as HTTP caches do.
 * - `x-gatehouse-cache-ttl: N`: keep the answer N seconds (at most the policy's `maxTtlMs`; 0 stores nothing).
 * - `x-gatehouse-cache-namespace: name`: a cache of its own within the scope.
 *
 * Not cached: requests whose answer varies by design (`n > 1`, a temperature above the policy's `maxTemperature`),
 * unless the policy says so, and requests whose answer the cache could not replay in every form, since a stored
 * answer serves streamed and non-streamed requests alike through the canonical answer: log probabilities, audio
 * output, server-side tools (web search, MCP servers, code execution containers), and for the Responses API a
 * background run or a state the upstream holds (a conversation, a prompt template, a chain to a response it stores,
 * unless the request stores nothing).
 */
import type { Operation } from '../../../providers/spec/operation.ts'
import { invalidRequest } from '../errors.ts'
import type { CachePolicy } from '../resolve-config.ts'

export type CacheControls = {
  /** Read a stored answer, or wait for one in flight. */
  read: boolean
  /** Store the answer. */
  store: boolean
  /** The oldest stored answer accepted, in ms; `null`: any. */
  maxAgeMs: number | null
  /** `x-gatehouse-cache-ttl` in ms; `null`: the policy's. */
  ttlMs: number | null
  namespace: string | null
}

const maxNamespaceLength = 256

const wholeSeconds = /^\d{1,10}$/

/** `Cache-Control`, `x-gatehouse-cache-ttl` and `x-gatehouse-cache-namespace`; a malformed header of ours is a 400. */
export const readCacheControls = (headers: Headers): CacheControls => {
  let read = true
  let store = true
  let maxAgeMs: number | null = null
  const cacheControl = headers.get('cache-control')
  if (cacheControl !== null) {
    for (const raw of cacheControl.split(',')) {
      const directive = raw.trim().toLowerCase()
      if (directive === 'no-cache') read = false
      else if (directive === 'no-store') {
        read = false
        store = false
      } else if (directive.startsWith('max-age=')) {
        const value = directive.slice('max-age='.length).replace(/^"|"$/g, '')
        if (wholeSeconds.test(value)) maxAgeMs = Number(value) * 1000
      }
    }
  }
  let ttlMs: number | null = null
  const ttl = headers.get('x-gatehouse-cache-ttl')
  if (ttl !== null) {
    if (!wholeSeconds.test(ttl.trim()))
      throw invalidRequest(
        '`x-gatehouse-cache-ttl` must be a whole number of seconds.',
        'x-gatehouse-cache-ttl'
      )
    ttlMs = Number(ttl.trim()) * 1000
  }
  let namespace: string | null = null
  const named = headers.get('x-gatehouse-cache-namespace')
  if (named !== null && named.trim() !== '') {
    namespace = named.trim()
    if (namespace.length > maxNamespaceLength)
      throw invalidRequest(
        `\`x-gatehouse-cache-namespace\` may have at most ${maxNamespaceLength} characters.`,
        'x-gatehouse-cache-namespace'
      )
  }
  return { read, store, maxAgeMs, ttlMs, namespace }
}

/** How long to keep the answer: the request's TTL within the policy's bound, else the policy's. */
export const ttlFor = (policy: CachePolicy, controls: CacheControls): number =>
  controls.ttlMs === null ? policy.ttlMs : Math.min(controls.ttlMs, policy.maxTtlMs)

const isPresent = (value: unknown): boolean => value !== undefined && value !== null

/** Anthropic tools the server runs itself (`web_search_20250305`...): custom tools have no `type`, or `custom`. */
const isServerTool = (tool: unknown): boolean => {
  const type = (tool as { type?: unknown } | null)?.type
  return type !== undefined && type !== null && type !== 'custom'
}

/**
 * A Responses tool the model's answer may show the work of (web search calls, MCP lists, shell calls...), which the
 * canonical answer cannot replay: anything but functions and namespaces of functions.
 */
const isHostedResponsesTool = (tool: unknown): boolean => {
  const type = (tool as { type?: unknown } | null)?.type
  return type !== 'function' && type !== 'namespace'
}

/**
 * Why the request is not cached (a few words, for the log), or `null` when it may be. Answers that vary by design
 * are cached only when the policy says so; answers the cache could not replay, never.
 */
export const uncacheableReason = (
  operation: Operation,
  body: Record<string, unknown>,
  policy: CachePolicy
): string | null => {
  if (operation === 'chat-completions') {
    if (body.logprobs === true || isPresent(body.top_logprobs)) return 'logprobs'
    if (
      isPresent(body.audio) ||
      (Array.isArray(body.modalities) && body.modalities.includes('audio'))
    )
      return 'audio output'
    if (isPresent(body.web_search_options)) return 'web search'
    if (!policy.nonDeterministic && typeof body.n === 'number' && body.n > 1) return 'n > 1'
  } else if (operation === 'messages') {
    if (isPresent(body.mcp_servers)) return 'MCP servers'
    if (isPresent(body.container)) return 'a code execution container'
    if (Array.isArray(body.tools) && body.tools.some(isServerTool)) return 'server tools'
  } else if (operation === 'responses') {
    if (body.background === true) return 'background'
    if (isPresent(body.conversation)) return 'a conversation held upstream'
    if (isPresent(body.prompt)) return 'a prompt template held upstream'
    // A hit's response is kept by the gateway, which cannot continue what the upstream holds.
    if (isPresent(body.previous_response_id) && body.store !== false)
      return 'chained to a response held upstream'
    // 0 asks for none: it is what every Response echoes, so a client replaying one sends it.
    if (isPresent(body.top_logprobs) && body.top_logprobs !== 0) return 'logprobs'
    if (Array.isArray(body.include) && body.include.includes('message.output_text.logprobs'))
      return 'logprobs'
    if (Array.isArray(body.tools) && body.tools.some(isHostedResponsesTool))
      return 'tools only OpenAI runs'
  } else if (operation === 'embeddings') {
    // Deterministic: nothing varies.
    return null
  } else {
    return 'not a cached operation'
  }
  if (
    !policy.nonDeterministic &&
    typeof body.temperature === 'number' &&
    body.temperature > policy.maxTemperature
  )
    return 'temperature'
  return null
}
