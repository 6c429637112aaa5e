/**
 * Anthropic errors → `ProviderError`. Bodies are `{"type":"error","error":{"type","message"},"request_id"}`
 * (https://docs.claude.com/en/api/errors); the client may see the message (secrets redacted), never the raw body.
 */
import { parseRetryAfter } from '../shared/parse-retry-after.ts'
import { readCappedText } from '../shared/read-capped-text.ts'
import { redactSecrets } from '../shared/redact-secrets.ts'
import type { HeaderReader, UpstreamResponse } from '../spec/provider-adapter.ts'
import { ProviderError } from '../spec/provider-error.ts'
import { anthropicErrorBodySchema } from './anthropic-api.ts'

const maxErrorBodyBytes = 64 * 1024

/** The HTTP status each documented `error.type` comes with, for errors that arrive in a stream after the 200. */
const statusByErrorType: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
}

const parseErrorBody = (text: string): { type: string | null; message: string | null } | null => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return null
  }
  const parsed = anthropicErrorBodySchema.safeParse(json)
  if (!parsed.success) return null
  return { type: parsed.data.error.type ?? null, message: parsed.data.error.message ?? null }
}

/** Anthropic sends `x-should-retry`; the official SDKs obey it before any status rule, and so do we. */
const retryHint = (headers: HeaderReader): boolean | undefined => {
  const value = headers.get('x-should-retry')
  if (value === 'true') return true
  if (value === 'false') return false
  return undefined
}

/** Reads (at most 64 KiB of) a non-2xx body, releases the connection, and describes the failure. */
export const readAnthropicHttpError = async (
  response: UpstreamResponse,
  providerId: string
): Promise<ProviderError> => {
  const { text } = await readCappedText(response.body, maxErrorBodyBytes)
  const parsed = parseErrorBody(text)
  return new ProviderError({
    kind: 'http',
    status: response.status,
    message: parsed?.message
      ? redactSecrets(parsed.message)
      : `Anthropic answered HTTP ${response.status}`,
    type: parsed?.type ?? null,
    retryable: retryHint(response.headers),
    retryAfterMs: parseRetryAfter(response.headers),
    providerId,
    detail: redactSecrets(text),
    headers: response.headers,
  })
}

/** The status an Anthropic `error.type` comes with (`api_error` and unknown types: 500). */
export const anthropicErrorStatus = (type: string | undefined): number =>
  (type === undefined ? undefined : statusByErrorType[type]) ?? 500

/** An `event: error` received after the 200, e.g. `overloaded_error` mid-stream. */
export const anthropicStreamError = (data: string, providerId: string): ProviderError => {
  const parsed = parseErrorBody(data)
  const type = parsed?.type ?? 'api_error'
  return new ProviderError({
    kind: 'http',
    status: anthropicErrorStatus(type),
    message: parsed?.message
      ? redactSecrets(parsed.message)
      : 'Anthropic reported an error in the stream',
    type,
    providerId,
    detail: redactSecrets(data),
    inStream: true,
  })
}

export const anthropicBadResponse = (
  message: string,
  providerId: string,
  cause?: unknown
): ProviderError =>
  new ProviderError({ kind: 'bad-response', status: 502, message, providerId, cause })
