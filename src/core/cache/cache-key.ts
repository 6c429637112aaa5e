/**
 * The prompt cache's key: a SHA-256 (hex) of the canonical request. Canonical means that the same request always
 * hashes the same, however it was serialised: object keys are sorted at every level, a top-level `null` is the same as
 * an absent field, and a field set to the API's own default is left out (`n: 1`, `temperature: 1`, an empty `tools`
 * list...). Fields that do not change the answer are left out too: `stream` and `stream_options` (a streamed answer
 * serves a non-streamed request and the other way round), the end user (`user`, `safety_identifier`, `metadata`),
 * OpenAI's `prompt_cache_key` (a routing hint for its own cache) and, for the Responses API, `store` (where the answer
 * is kept, not what it says).
 *
 * Beside the body the key holds the operation, the route's targets (as a sorted set of `provider/model`: a weighted
 * route draws its first target per request, and an answer any of them gave serves the route), the client headers that
 * reach the upstream (`anthropic-version`, `anthropic-beta`, which can change the answer), the scope (a tenant, the
 * master key, or `shared` when the route shares its cache across tenants) and the namespace a request narrows it to
 * (`x-gatehouse-cache-namespace`). Web Crypto only: the core runs on Workers too.
 */
import type { Operation } from '../../../providers/spec/operation.ts'
import type { CallRoute } from '../chat-call.ts'

/** Bumped when what the key covers changes, so that old entries are never read under a new meaning. */
const keyVersion = 'gatehouse-cache-v1'

/** Fields that never change the answer, per operation. `model` is replaced by the route's targets. */
const ignoredFields: Partial<Record<Operation, ReadonlySet<string>>> = {
  'chat-completions': new Set([
    'model',
    'stream',
    'stream_options',
    'user',
    'safety_identifier',
    'metadata',
    'prompt_cache_key',
  ]),
  messages: new Set(['model', 'stream', 'metadata']),
  // `store` and `background` decide where the answer is kept, not what it says (a background request is not cached).
  responses: new Set([
    'model',
    'stream',
    'stream_options',
    'user',
    'safety_identifier',
    'metadata',
    'prompt_cache_key',
    'prompt_cache_retention',
    'store',
    'background',
  ]),
  embeddings: new Set(['model', 'user']),
}

const isEmptyList = (value: unknown): boolean => Array.isArray(value) && value.length === 0

const hasTools = (body: Record<string, unknown>): boolean =>
  Array.isArray(body.tools) && body.tools.length > 0

/** Whether `value` is what the API does when `name` is absent from `body` (its documented default). */
const isDefault: Partial<
  Record<Operation, (name: string, value: unknown, body: Record<string, unknown>) => boolean>
> = {
  // https://platform.openai.com/docs/api-reference/chat/create
  'chat-completions': (name, value, body) => {
    switch (name) {
      case 'n':
      case 'temperature':
      case 'top_p':
        return value === 1
      case 'presence_penalty':
      case 'frequency_penalty':
        return value === 0
      case 'logprobs':
      case 'store':
        return value === false
      case 'parallel_tool_calls':
        return value === true
      case 'stop':
      case 'tools':
        return isEmptyList(value)
      case 'tool_choice':
        return value === (hasTools(body) ? 'auto' : 'none')
      case 'response_format':
        return (
          typeof value === 'object' &&
          value !== null &&
          Object.keys(value).length === 1 &&
          (value as { type?: unknown }).type === 'text'
        )
      default:
        return false
    }
  },
  // https://docs.claude.com/en/api/messages
  messages: (name, value) => {
    switch (name) {
      case 'temperature':
        return value === 1
      case 'stop_sequences':
      case 'tools':
        return isEmptyList(value)
      case 'tool_choice':
        return (
          typeof value === 'object' &&
          value !== null &&
          Object.keys(value).length === 1 &&
          (value as { type?: unknown }).type === 'auto'
        )
      default:
        return false
    }
  },
  // https://platform.openai.com/docs/api-reference/responses/create
  responses: (name, value, body) => {
    switch (name) {
      case 'temperature':
      case 'top_p':
        return value === 1
      case 'parallel_tool_calls':
        return value === true
      case 'truncation':
        return value === 'disabled'
      case 'tools':
      case 'include':
        return isEmptyList(value)
      case 'tool_choice':
        return value === (hasTools(body) ? 'auto' : 'none')
      case 'text': {
        // `{ format: { type: 'text' } }`, the default, and nothing else.
        if (typeof value !== 'object' || value === null) return false
        const text = value as { format?: { type?: unknown }; [name: string]: unknown }
        return (
          Object.keys(text).length === 1 &&
          typeof text.format === 'object' &&
          text.format !== null &&
          Object.keys(text.format).length === 1 &&
          text.format.type === 'text'
        )
      }
      default:
        return false
    }
  },
  // https://platform.openai.com/docs/api-reference/embeddings/create
  embeddings: (name, value) => name === 'encoding_format' && value === 'float',
}

/** The body as the key sees it: the fields that change the answer, defaults and `null`s left out (top level). */
export const canonicalBody = (
  operation: Operation,
  body: Record<string, unknown>
): Record<string, unknown> => {
  const ignored = ignoredFields[operation]
  const defaultFor = isDefault[operation]
  const out: Record<string, unknown> = {}
  for (const name in body) {
    const value = body[name]
    if (value === null || value === undefined || ignored?.has(name)) continue
    if (defaultFor?.(name, value, body)) continue
    out[name] = value
  }
  return out
}

/** Object keys as JSON strings, for the short names requests use again and again (`role`, `content`, `type`...). */
const quotedNames = new Map<string, string>()
const maxQuotedNames = 1024
const maxQuotedNameLength = 64

const quoteName = (name: string): string => {
  let quoted = quotedNames.get(name)
  if (quoted === undefined) {
    quoted = JSON.stringify(name)
    if (quotedNames.size < maxQuotedNames && name.length <= maxQuotedNameLength)
      quotedNames.set(name, quoted)
  }
  return quoted
}

/**
 * JSON with the keys of every object sorted, so that key order never changes the text. Written into one string as
 * it goes: no array of parts per object or list.
 */
export const canonicalJson = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) {
    let out = '['
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) out += ','
      out += canonicalJson(value[index])
    }
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  const names = Object.keys(record)
  if (names.length > 1) names.sort()
  let out = '{'
  let first = true
  for (const name of names) {
    const field = record[name]
    if (field === undefined) continue
    if (first) first = false
    else out += ','
    out += `${quoteName(name)}:${canonicalJson(field)}`
  }
  return `${out}}`
}

const hex = (bytes: ArrayBuffer): string => {
  const view = new Uint8Array(bytes)
  let out = ''
  for (let index = 0; index < view.length; index += 1)
    out += view[index].toString(16).padStart(2, '0')
  return out
}

const encoder = new TextEncoder()

/** SHA-256 of a text as 64 lower-case hex digits, synchronous where the runtime can (`Deps.sha256Hex`). */
export type Sha256Hex = (text: string) => string | Promise<string>

/**
 * Web Crypto's: the default, and what Workers use. On Node each `digest` is a round trip through libuv's thread pool
 * (about 0.1 ms of latency for a short text, against 4 µs for `createHash`), so Node gives its own.
 */
export const sha256Hex = async (text: string): Promise<string> =>
  hex(await crypto.subtle.digest('SHA-256', encoder.encode(text)))

export type CacheKeyInput = {
  operation: Operation
  route: CallRoute
  /** `tenant:<id>`, `master`, or `shared` (a route that shares its cache across tenants). */
  scope: string
  /** `x-gatehouse-cache-namespace`, or `null`. */
  namespace: string | null
  /** The client headers that reach the upstream (lower-case names). */
  headers: Record<string, string>
  body: Record<string, unknown>
}

/** The route's own targets as a sorted set of `provider/model` (not the config's global fallbacks, `standIn`). */
export const routeTargetsOf = (route: CallRoute): string[] =>
  [
    ...new Set(
      route.targets
        .filter((target) => target.standIn !== true)
        .map((target) => `${target.provider.config.id}/${target.model}`)
    ),
  ].sort()

export const cacheKey = async (
  input: CacheKeyInput,
  digest: Sha256Hex = sha256Hex
): Promise<string> =>
  await digest(
    canonicalJson([
      keyVersion,
      input.operation,
      routeTargetsOf(input.route),
      input.scope,
      input.namespace,
      input.headers,
      canonicalBody(input.operation, input.body),
    ])
  )
