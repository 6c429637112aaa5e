/**
 * The gateway's own errors, thrown and never returned. `middleware/on-error.ts` is the only place that turns them
 * (and `ProviderError`s) into an OpenAI- or Anthropic-shaped response.
 */
export type GatewayErrorCode =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'payload_too_large'
  | 'rate_limited'
  | 'upstream'
  | 'timeout'
  | 'unavailable'
  | 'internal'

const statusByCode: Record<GatewayErrorCode, number> = {
  invalid_request: 400,
  authentication: 401,
  permission: 403,
  not_found: 404,
  payload_too_large: 413,
  rate_limited: 429,
  upstream: 502,
  timeout: 504,
  unavailable: 503,
  internal: 500,
}

export type GatewayErrorOptions = {
  /** The offending request field, dotted (`messages.2.content`). */
  param?: string | null
  /** Machine-readable code for OpenAI-shaped bodies (`model_not_found`, `invalid_api_key`). */
  openaiCode?: string | null
  /** The `type` of an OpenAI-shaped body where OpenAI's own differs from the status's (`insufficient_quota`). */
  openaiType?: string | null
  /** Overrides the status derived from `code` (e.g. 502 vs 503). */
  status?: number
  retryAfterMs?: number | null
  /** Extra response headers (e.g. `x-should-retry`). */
  headers?: Record<string, string>
  /**
   * The provider account's rate-limit headers of the upstream error this one passes on: for the master key's
   * response only (a tenant key's carries its own limits under those names, `upstream-headers.ts`).
   */
  providerRateLimitHeaders?: Record<string, string>
  /** The call ended while an upstream held its request (`GatewayError.cutAttempt`). */
  cutAttempt?: CutAttempt | null
  cause?: unknown
}

/**
 * The attempt a call ended in while its upstream had the request and had not answered: time ran out, the client
 * left, or the draining gateway ended it. The provider may bill what it processed meanwhile (the request's input at
 * least, once it started on it), so the call's usage is recorded from the gateway's estimate rather than as nothing.
 */
export type CutAttempt = { provider: string; model: string }

export class GatewayError extends Error {
  override readonly name = 'GatewayError'
  readonly code: GatewayErrorCode
  readonly status: number
  readonly param: string | null
  readonly openaiCode: string | null
  readonly openaiType: string | null
  readonly retryAfterMs: number | null
  readonly headers: Record<string, string>
  readonly providerRateLimitHeaders: Record<string, string>
  /** Set by the executor on a call that ended cut (`CutAttempt`); `null` for every other error. */
  readonly cutAttempt: CutAttempt | null

  constructor(code: GatewayErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.code = code
    this.status = options.status ?? statusByCode[code]
    this.param = options.param ?? null
    this.openaiCode = options.openaiCode ?? null
    this.openaiType = options.openaiType ?? null
    this.retryAfterMs = options.retryAfterMs ?? null
    this.headers = options.headers ?? {}
    this.providerRateLimitHeaders = options.providerRateLimitHeaders ?? {}
    this.cutAttempt = options.cutAttempt ?? null
  }
}

export const invalidRequest = (message: string, param?: string | null): GatewayError =>
  new GatewayError('invalid_request', message, { param: param ?? null })

export const modelNotFound = (model: string): GatewayError =>
  new GatewayError(
    'not_found',
    `The model \`${model}\` does not exist or you do not have access to it.`,
    {
      param: 'model',
      openaiCode: 'model_not_found',
    }
  )
