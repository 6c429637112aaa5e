/**
 * One line of a `gatehouse cache warm` file, read into the request to send: either `{"path": …, "body": {…},
 * "headers"?: {…}}` or a bare Chat Completions body. Streaming is turned off (the cache key leaves `stream` and
 * `stream_options` out, so the entry serves streamed requests too), and a Messages request without
 * `anthropic-version` gets the one the Anthropic SDKs send, since the header is part of the key.
 *
 * The key is the caller's (`--api-key`), never the file's: a line naming `authorization` or `x-api-key` is refused,
 * and no message repeats a header's value.
 */

/** The generative endpoints the prompt cache may hold answers of. */
export const warmPaths = [
  '/v1/chat/completions',
  '/v1/messages',
  '/v1/embeddings',
  '/v1/responses',
] as const

export type WarmPath = (typeof warmPaths)[number]

export type WarmRequest = {
  path: WarmPath
  body: Record<string, unknown>
  headers: Record<string, string>
}

export type ParsedWarmLine = { request: WarmRequest } | { error: string }

/** What the Anthropic SDKs send; a request warmed without it would be filed under another key. */
export const defaultAnthropicVersion = '2023-06-01'

/** Headers the CLI sets itself: the key, and what describes the body it sends. */
const reservedHeaders = new Set([
  'authorization',
  'x-api-key',
  'content-type',
  'content-length',
  'host',
  'connection',
  'transfer-encoding',
])

const envelopeFields = new Set(['path', 'body', 'headers'])

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const readHeaders = (value: unknown): Record<string, string> | string => {
  if (value === undefined) return {}
  if (!isObject(value)) return '`headers` must be an object of header names to strings'
  const headers: Record<string, string> = {}
  for (const [name, text] of Object.entries(value)) {
    const lower = name.toLowerCase()
    if (lower === 'authorization' || lower === 'x-api-key')
      return `\`headers\` may not set ${lower}: the key is the one given to the command (--api-key or GATEHOUSE_API_KEY)`
    if (reservedHeaders.has(lower)) return `\`headers\` may not set ${lower}: the command sets it`
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      return `\`headers\`: ${JSON.stringify(name)} is not a header name`
    if (typeof text !== 'string') return `\`headers.${name}\` must be a string`
    headers[lower] = text
  }
  return headers
}

export const parseWarmLine = (text: string): ParsedWarmLine => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return { error: `not JSON (${(error as Error).message})` }
  }
  if (!isObject(parsed))
    return { error: 'a line is a JSON object: {"path", "body", "headers"?} or a chat body' }
  let path: WarmPath = '/v1/chat/completions'
  let body = parsed
  let headers: Record<string, string> = {}
  if ('path' in parsed || 'body' in parsed) {
    const unknown = Object.keys(parsed).find((name) => !envelopeFields.has(name))
    if (unknown !== undefined)
      return {
        error: `unknown field \`${unknown}\` beside \`path\` and \`body\` (a request's fields go in \`body\`)`,
      }
    if (!warmPaths.includes(parsed.path as WarmPath))
      return {
        error: `\`path\` must be one of ${warmPaths.join(', ')}${typeof parsed.path === 'string' ? `, not ${JSON.stringify(parsed.path)}` : ''}`,
      }
    if (!isObject(parsed.body)) return { error: '`body` must be a JSON object' }
    const read = readHeaders(parsed.headers)
    if (typeof read === 'string') return { error: read }
    path = parsed.path as WarmPath
    body = parsed.body
    headers = read
  }
  // A copy: the cache key ignores both fields, so the answer, read whole, serves streamed requests as well.
  const sent = { ...body }
  delete sent.stream
  delete sent.stream_options
  if (path === '/v1/messages' && headers['anthropic-version'] === undefined)
    headers['anthropic-version'] = defaultAnthropicVersion
  return { request: { path, body: sent, headers } }
}
