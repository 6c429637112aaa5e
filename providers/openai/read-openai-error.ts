/**
 * Turns an OpenAI-shaped error (an HTTP error body or an in-band stream chunk) into a `ProviderError` that keeps the
 * upstream's `message`/`type`/`code`/`param` (clients match on `context_length_exceeded`), with secrets redacted.
 * Shape: `{"error":{"message","type","param","code"}}` (https://platform.openai.com/docs/guides/error-codes);
 * OpenAI-compatible servers also send `{"error":"text"}` or vLLM's `{"object":"error","message",...}`.
 */
import { parseRetryAfter } from '../shared/parse-retry-after.ts'
import { readCappedText } from '../shared/read-capped-text.ts'
import { redactSecrets } from '../shared/redact-secrets.ts'
import { ProviderError } from '../spec/provider-error.ts'
import type { HeaderReader, UpstreamResponse } from '../spec/provider-adapter.ts'

/** Error bodies are only summarised and logged: never hold more than this in memory. */
const maxErrorBodyBytes = 64 * 1024

export type OpenAIErrorFields = {
  message: string
  type: string | null
  code: string | null
  param: string | null
}

/** A string field of an upstream's error, secrets redacted like its message: an upstream may put a key anywhere. */
const text = (value: unknown): string | null =>
  typeof value === 'string' && value !== '' ? redactSecrets(value) : null

const fields = (source: Record<string, unknown>, message: string): OpenAIErrorFields => ({
  message: redactSecrets(message),
  type: text(source.type),
  code: text(source.code),
  param: text(source.param),
})

/** The error an OpenAI-shaped JSON value carries, or `null` when it carries none. */
export const extractOpenAIError = (value: unknown): OpenAIErrorFields | null => {
  if (typeof value !== 'object' || value === null) return null
  const body = value as Record<string, unknown>
  const error = body.error
  if (typeof error === 'string' && error !== '') return fields({}, error)
  if (typeof error === 'object' && error !== null) {
    const inner = error as Record<string, unknown>
    const message = text(inner.message)
    return message
      ? fields(inner, message)
      : fields(inner, 'The upstream reported an error without a message.')
  }
  if (body.object === 'error' && text(body.message)) return fields(body, body.message as string)
  return null
}

const parseJson = (raw: string): unknown => {
  try {
    return JSON.parse(raw)
  } catch {
    return null
  }
}

/** Upstreams may say whether a retry can help (`x-should-retry`, honoured by the official SDKs). */
const shouldRetry = (headers: HeaderReader): boolean | undefined => {
  const value = headers.get('x-should-retry')
  if (value === 'true') return true
  if (value === 'false') return false
  return undefined
}

/**
 * Reads (at most 64 KiB of) a non-2xx response body and builds the error to throw. The body is always consumed or
 * cancelled, so the connection returns to the pool.
 */
export const readOpenAIError = async (options: {
  response: UpstreamResponse
  providerId: string
}): Promise<ProviderError> => {
  const { response, providerId } = options
  const { text: raw } = await readCappedText(response.body, maxErrorBodyBytes)
  const upstream = extractOpenAIError(parseJson(raw))
  return new ProviderError({
    kind: 'http',
    status: response.status,
    message: upstream?.message ?? `The upstream provider answered with HTTP ${response.status}.`,
    type: upstream?.type,
    code: upstream?.code,
    param: upstream?.param,
    retryable: shouldRetry(response.headers),
    retryAfterMs: parseRetryAfter(response.headers),
    providerId,
    detail: redactSecrets(raw),
    headers: response.headers,
  })
}

/** Status an in-band error stands for: the HTTP status it names (vLLM sends `code: 400`), else 502. */
const inBandStatus = (value: unknown): number => {
  const code = (value as { error?: { code?: unknown } } | null)?.error?.code
  return typeof code === 'number' && code >= 400 && code <= 599 ? code : 502
}

/**
 * A `data: {"error":...}` chunk after a 200: the answer failed mid-way. openai-node raises an `APIError` on it
 * (https://github.com/openai/openai-node/blob/master/src/core/streaming.ts).
 */
export const createInBandError = (options: {
  value: unknown
  error: OpenAIErrorFields
  providerId: string
}): ProviderError =>
  new ProviderError({
    kind: 'http',
    status: inBandStatus(options.value),
    message: options.error.message,
    type: options.error.type,
    code: options.error.code,
    param: options.error.param,
    providerId: options.providerId,
    detail: redactSecrets(JSON.stringify(options.value)),
    inStream: true,
  })

const objectOf = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}

/**
 * A Responses API failure after a 200: a `Response` with `status: "failed"` (its `error` is `{code, message}`), or a
 * stream's `error` event (`code`, `message`, `param` at the top level, and the live API nests `{type, code, message,
 * param}` under `error` too). https://platform.openai.com/docs/api-reference/responses-streaming/error
 */
export const createResponsesFailure = (options: {
  /** The response's `error`, or the `error` event itself. */
  error: unknown
  providerId: string
  /** What to log (the response or the event). */
  value: unknown
}): ProviderError => {
  const error = objectOf(options.error)
  const nested = objectOf(error.error)
  const message =
    text(error.message) ??
    text(nested.message) ??
    'The upstream reported a failed response without a message.'
  return new ProviderError({
    kind: 'http',
    status: 502,
    message: redactSecrets(message),
    type: text(nested.type),
    code: text(error.code) ?? text(nested.code),
    param: text(error.param) ?? text(nested.param),
    providerId: options.providerId,
    detail: redactSecrets(JSON.stringify(options.value)).slice(0, 2048),
  })
}
