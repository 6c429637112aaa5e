/**
 * Anthropic errors → `ProviderError`. Bodies are `{"type":"error","error":{"type","message","details"},"request_id"}`
 * (https://platform.claude.com/docs/en/api/errors); the client may see the message, the type and the details
 * (secrets redacted), never the raw body.
 */
import { parseRetryAfter } from '../shared/parse-retry-after.ts'
import { readCappedText } from '../shared/read-capped-text.ts'
import { maskJson, redactSecrets } from '../shared/redact-secrets.ts'
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

/** Deeper `details` are dropped rather than walked: Anthropic's hold an `error_code` and a few flat fields. */
const maxDetailsDepth = 8

/** `error.details` as a client may get it: an object, redacted; `null` when absent, not an object or too deep. */
const redactedDetails = (details: unknown): Record<string, unknown> | null => {
  if (details === null || typeof details !== 'object' || Array.isArray(details)) return null
  return (maskJson(details, redactSecrets, maxDetailsDepth) as Record<string, unknown>) ?? null
}

type ParsedErrorBody = {
  type: string | null
  message: string | null
  details: Record<string, unknown> | null
}

const parseErrorBody = (text: string): ParsedErrorBody | null => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return null
  }
  const parsed = anthropicErrorBodySchema.safeParse(json)
  if (!parsed.success) return null
  const { error } = parsed.data
  return {
    // Passed on to an Anthropic client as it came: redacted as the message is.
    type: error.type == null ? null : redactSecrets(error.type),
    message: error.message ?? null,
    details: redactedDetails(error.details),
  }
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
    details: parsed?.details ?? null,
    dialect: 'anthropic',
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
    details: parsed?.details ?? null,
    dialect: 'anthropic',
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
