/**
 * The only error serializer: every error that reaches a client leaves through here, in the dialect it spoke.
 * OpenAI: `{error:{message,type,param,code}}`; Anthropic: `{type:"error",error:{type,message,details?},request_id}`
 * (wire-notes §5). An Anthropic client of an Anthropic upstream gets that upstream's `error.type` and `details`, and
 * its 529 or 504, as they came (`anthropicUpstreamError`). Clients never see stack traces, raw upstream bodies or keys;
 * the log gets the detail. A tenant key's error carries its `x-ratelimit-*` headers like its other responses
 * (`withErrorRateLimitHeaders`).
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { Dialect } from '../../providers/spec/chat-types.ts'
import { isProviderError, type ProviderError } from '../../providers/spec/provider-error.ts'
import { maskJson, maskRememberedSecrets } from '../../providers/shared/redact-secrets.ts'
import { GatewayError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { keepsUpstreamStatus, mapProviderError } from '../core/map-provider-error.ts'
import { peekRateLimitHeaders, withRateLimitHeaders } from '../core/rate-limit-headers.ts'
import type { AdmissionStore } from '../stores/admission-store.ts'
import { isDatabaseUnavailable } from '../stores/sql/database-unavailable.ts'
import type { GatewayEnv } from './gateway-env.ts'
import { detectDialect } from './request-context.ts'

const openAIType = (status: number): string => {
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'server_error'
  if (status === 403) return 'permission_error'
  return 'invalid_request_error'
}

/** https://docs.claude.com/en/api/errors */
const anthropicType = (status: number): string => {
  switch (status) {
    case 400:
      return 'invalid_request_error'
    case 401:
      return 'authentication_error'
    case 402:
      return 'billing_error'
    case 403:
      return 'permission_error'
    case 404:
      return 'not_found_error'
    case 413:
      return 'request_too_large'
    case 429:
      return 'rate_limit_error'
    case 504:
      return 'timeout_error'
    case 529:
      return 'overloaded_error'
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error'
  }
}

/**
 * The Anthropic upstream's HTTP error that `error` passes on, which an Anthropic client gets as the upstream sent it
 * (its `error.type`, its `details`, its 529 or 504): `null` for any other error, and for an upstream 401/403, the
 * gateway's own credentials refused (a 502 whose type must not blame the client's key).
 */
const anthropicUpstreamError = (error: GatewayError): ProviderError | null => {
  const cause = error.cause
  return isProviderError(cause) &&
    cause.kind === 'http' &&
    cause.dialect === 'anthropic' &&
    cause.status !== 401 &&
    cause.status !== 403
    ? cause
    : null
}

/**
 * The status a client of `dialect` gets for `error`: its own, but an Anthropic upstream's 529 or 504 for an Anthropic
 * client (`keepsUpstreamStatus`), which the executor's errors carry already; an error mapped without the client's
 * dialect gets it here.
 */
const clientStatus = (error: GatewayError, dialect: Dialect): number => {
  const upstream = anthropicUpstreamError(error)
  return upstream !== null && keepsUpstreamStatus(upstream, dialect)
    ? upstream.status
    : error.status
}

/** The `error` object of an Anthropic body: the upstream's type and details when it is an Anthropic upstream's. */
const anthropicError = (error: GatewayError): Record<string, unknown> => {
  const upstream = anthropicUpstreamError(error)
  const shaped: Record<string, unknown> = {
    type:
      upstream === null || upstream.type === null
        ? anthropicType(clientStatus(error, 'anthropic'))
        : maskRememberedSecrets(upstream.type),
    message: maskRememberedSecrets(error.message),
  }
  if (upstream !== null && upstream.details !== null)
    shaped.details = maskJson(upstream.details, maskRememberedSecrets)
  return shaped
}

const openAICode = (error: GatewayError): string | null => {
  if (error.openaiCode) return error.openaiCode
  switch (error.status) {
    case 401:
      return 'invalid_api_key'
    case 413:
      return 'request_too_large'
    case 429:
      return 'rate_limit_exceeded'
    case 502:
      return 'upstream_error'
    case 503:
      return 'service_unavailable'
    case 504:
      return 'timeout'
    default:
      return null
  }
}

/**
 * Serialises an error for a client of `dialect`. Its message is the last place a credential could leave: an
 * upstream's message repeating the key it refused is passed on, so the gateway's own credentials are masked here,
 * for every error a client gets (`redact-secrets.ts`).
 */
export const errorBody = (
  error: GatewayError,
  dialect: Dialect,
  requestId: string
): Record<string, unknown> =>
  dialect === 'anthropic'
    ? {
        type: 'error',
        error: anthropicError(error),
        request_id: requestId,
      }
    : {
        error: {
          message: maskRememberedSecrets(error.message),
          type: error.openaiType ?? openAIType(error.status),
          param: error.param,
          code: openAICode(error),
        },
      }

export const errorResponse = (
  error: GatewayError,
  dialect: Dialect,
  requestId: string,
  /** The master key's response: the provider account's rate limits of an upstream error pass through. */
  withProviderRateLimits = false
): Response => {
  const headers = new Headers({
    'content-type': 'application/json',
    'x-request-id': requestId,
    ...error.headers,
    ...(withProviderRateLimits ? error.providerRateLimitHeaders : {}),
  })
  if (dialect === 'anthropic') headers.set('request-id', requestId)
  if (error.retryAfterMs !== null && !headers.has('retry-after')) {
    headers.set('retry-after', String(Math.ceil(error.retryAfterMs / 1000)))
    headers.set('retry-after-ms', String(error.retryAfterMs))
  }
  return new Response(JSON.stringify(errorBody(error, dialect, requestId)), {
    status: clientStatus(error, dialect),
    headers,
  })
}

const fromHttpException = (exception: HTTPException): GatewayError => {
  switch (exception.status) {
    case 400:
      return new GatewayError(
        'invalid_request',
        `We could not parse the JSON body of your request: ${exception.message}`
      )
    case 413:
      return new GatewayError(
        'payload_too_large',
        'The request body is larger than the gateway accepts.'
      )
    case 415:
      return new GatewayError(
        'invalid_request',
        'The request body must be JSON sent with `content-type: application/json`.',
        {
          status: 415,
        }
      )
    default:
      return new GatewayError(
        exception.status >= 500 ? 'internal' : 'invalid_request',
        exception.message,
        {
          status: exception.status,
        }
      )
  }
}

/**
 * Any thrown value → the client's error shape, with the right status. A database that cannot be reached (a store's
 * driver error that says so) is a 503 the client may retry; other unknown errors are a logged 500.
 */
export const toGatewayError = (error: unknown): GatewayError => {
  if (error instanceof GatewayError) return error
  if (isProviderError(error)) return mapProviderError(error, { attempts: null })
  if (error instanceof HTTPException) return fromHttpException(error)
  if (isDatabaseUnavailable(error))
    return new GatewayError('unavailable', 'The database is unavailable. Retry shortly.', {
      status: 503,
      retryAfterMs: 1_000,
      cause: error,
    })
  return new GatewayError(
    'internal',
    'The gateway hit an internal error. It has been logged with the request id.'
  )
}

export const onError =
  (logger: Logger) =>
  (error: Error, c: Context<GatewayEnv>): Response => {
    const gatewayError = toGatewayError(error)
    const requestId = c.get('requestId') ?? 'unknown'
    const dialect = c.get('dialect') ?? detectDialect(c.req.path, c.req.raw.headers)
    const fields = { requestId, status: clientStatus(gatewayError, dialect), path: c.req.path }
    if (gatewayError.status >= 500) {
      // The store or connection failure behind a 503 of the gateway's own (the key store unavailable...), which
      // its message does not repeat: the operator needs it. A provider's failure is in the message already.
      const cause = gatewayError.cause
      logger.error(
        {
          ...fields,
          error: error.message,
          cause:
            cause instanceof Error && !isProviderError(cause)
              ? maskRememberedSecrets(cause.message)
              : undefined,
          stack: gatewayError.code === 'internal' ? error.stack : undefined,
        },
        'request failed'
      )
    } else {
      logger.info({ ...fields, error: gatewayError.message }, 'request rejected')
    }
    const principal = c.get('principal')
    return errorResponse(
      gatewayError,
      dialect,
      requestId,
      principal !== undefined && principal.access === null
    )
  }

/**
 * A tenant key's error response with the `x-ratelimit-*` headers of its limits as they stand (`peekRateLimitHeaders`:
 * read, nothing taken), unless it carries its admission's own (a 429 from the limits): a refusal before admission (a
 * 400 from validation, a 403 for a model outside the key's list, a 404 unknown model, a chunked body over the limit)
 * or a failure after it. Without them when the store does not answer in time. The response itself, at once, for the
 * master key and for a request refused before its key was known (a 401, a declared length over the limit).
 */
export const withErrorRateLimitHeaders = (options: {
  c: Context<GatewayEnv>
  response: Response
  store: AdmissionStore | undefined
  logger: Logger
}): Response | Promise<Response> => {
  const { response } = options
  const principal = options.c.get('principal')
  if (principal === undefined || principal.access === null) return response
  if (
    response.headers.has('x-ratelimit-limit-requests') ||
    response.headers.has('x-ratelimit-limit-tokens')
  )
    return response
  // A route that was reading them already (`answerWithRateLimitHeaders`) and then threw: the same read.
  return withRateLimitHeaders(
    response,
    options.c.get('rateLimitPeek') ??
      peekRateLimitHeaders({ principal, store: options.store, logger: options.logger })
  )
}
