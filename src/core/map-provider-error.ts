/**
 * Turns the failure that ends a call into the `GatewayError` the client sees. The gateway has already retried, so
 * every such error says `x-should-retry: false` (both official SDKs obey it before their status rules, wire-notes §5)
 * or the client's own retries would multiply ours; all but a call the draining gateway ended itself
 * (`gatewayShuttingDown`), which says `true`: another instance can take it. Upstream client errors keep their `message`/`code`/`param`
 * (clients match on `context_length_exceeded`); credentials problems are ours, never the client's.
 */
import type { Dialect } from '../../providers/spec/chat-types.ts'
import type { ProviderError } from '../../providers/spec/provider-error.ts'
import { maskRememberedSecrets } from '../../providers/shared/redact-secrets.ts'
import { type CutAttempt, GatewayError, type GatewayErrorCode } from './errors.ts'
import { copyUpstreamHeaders, isUpstreamRateLimitHeader } from './upstream-headers.ts'

/**
 * An upstream's `param` or `code` as the client gets it: masked as its message is (`on-error.ts`), since an upstream
 * may echo the gateway's credential in any field.
 */
const masked = (value: string | null): string | null =>
  value === null ? null : maskRememberedSecrets(value)

/**
 * Whether a client of `clientDialect` gets `error`'s own 5xx status rather than the gateway's 502: an Anthropic
 * upstream's 529 `overloaded_error` and 504 `timeout_error`, to an Anthropic client, which the SDK and Claude Code
 * treat apart from a server error (`OverloadedError`, `GatewayTimeoutError`). OpenAI has no 529.
 */
export const keepsUpstreamStatus = (
  error: ProviderError,
  clientDialect: Dialect | undefined
): boolean =>
  clientDialect === 'anthropic' &&
  error.kind === 'http' &&
  error.dialect === 'anthropic' &&
  (error.status === 529 || error.status === 504)

const codeByStatus: Record<number, GatewayErrorCode> = {
  400: 'invalid_request',
  403: 'permission',
  404: 'not_found',
  413: 'payload_too_large',
  429: 'rate_limited',
}

/** `attempts: null` when the error did not come out of the executor (nothing to count). */
export const mapProviderError = (
  error: ProviderError,
  options: {
    attempts: number | null
    /** A conversion refusal's parameter in the client's terms (`ChatCall.clientParam`). */
    clientParam?: (param: string) => string
    /** The attempt a timeout or an abort cut (`GatewayError.cutAttempt`); ignored for any other error. */
    cutAttempt?: CutAttempt | null
    /** The client's dialect, where known: it decides a few statuses (`keepsUpstreamStatus`). */
    clientDialect?: Dialect
  }
): GatewayError => {
  const provider =
    error.providerId === undefined ? 'the upstream provider' : `provider "${error.providerId}"`
  const headers: Record<string, string> = { 'x-should-retry': 'false' }
  if (options.attempts !== null) headers['x-gatehouse-attempts'] = String(options.attempts)
  // An upstream's error response: its retry hints and request id for every client, its rate limits for the master
  // key's (`onError`), as on an answered call, and masked as there (`copyUpstreamHeaders`): an upstream may echo the
  // gateway's credential in any header.
  const providerRateLimitHeaders: Record<string, string> = {}
  if (error.headers !== null) {
    copyUpstreamHeaders(headers, error.headers, true)
    error.headers.forEach((value, name) => {
      if (isUpstreamRateLimitHeader(name)) providerRateLimitHeaders[name] = masked(value)!
    })
  }
  const base = { headers, providerRateLimitHeaders, cause: error }
  const cut = { ...base, cutAttempt: options.cutAttempt ?? null }
  switch (error.kind) {
    case 'aborted':
      // The client left (499), or the gateway ended the call itself (`gatewayShuttingDown`, 503).
      return error.status === 499
        ? new GatewayError('invalid_request', 'The client closed the request.', {
            ...cut,
            status: 499,
          })
        : // The gateway's own end, not the upstream's: another instance can serve it, so the SDKs may retry.
          new GatewayError('unavailable', error.message, {
            ...cut,
            headers: { ...headers, 'x-should-retry': 'true' },
            status: error.status,
          })
    case 'timeout':
      return new GatewayError('timeout', error.message, { ...cut, status: 504 })
    case 'unsupported':
      return new GatewayError('invalid_request', error.message, {
        ...base,
        status: 400,
        param:
          error.param === null || options.clientParam === undefined
            ? error.param
            : options.clientParam(error.param),
        openaiCode: error.code,
      })
    case 'connection':
      // Worded for both moments a connection fails: before the answer, and in the middle of a stream (where "could
      // not reach" was wrong: the provider had answered).
      return new GatewayError(
        'upstream',
        `The connection to ${provider} failed: ${error.message}`,
        {
          ...base,
          status: 502,
        }
      )
    case 'bad-response':
      return new GatewayError(
        'upstream',
        `${capitalize(provider)} sent a response the gateway could not read: ${error.message}`,
        {
          ...base,
          status: 502,
        }
      )
    case 'http':
      break
  }
  if (error.status === 401 || error.status === 403) {
    return new GatewayError(
      'upstream',
      `The upstream ${provider} rejected the gateway's credentials.`,
      {
        ...base,
        status: 502,
      }
    )
  }
  if (error.status >= 500 || error.status < 400) {
    return new GatewayError(
      'upstream',
      error.inStream
        ? `${capitalize(provider)} reported an error mid-stream${error.type === null ? '' : ` (${error.type})`}: ${error.message}`
        : `${capitalize(provider)} failed with HTTP ${error.status}: ${error.message}`,
      {
        ...base,
        status: keepsUpstreamStatus(error, options.clientDialect) ? error.status : 502,
      }
    )
  }
  if (error.status === 429 && error.retryAfterMs !== null && headers['retry-after'] === undefined) {
    headers['retry-after'] = String(Math.ceil(error.retryAfterMs / 1000))
  }
  return new GatewayError(codeByStatus[error.status] ?? 'invalid_request', error.message, {
    ...base,
    status: error.status,
    param: masked(error.param),
    openaiCode: masked(error.code),
    retryAfterMs: error.status === 429 ? error.retryAfterMs : null,
  })
}

const capitalize = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)
