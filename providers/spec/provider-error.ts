/**
 * The one error type adapters throw. The core reads `status`, `retryable` and `retryAfterMs` to decide on
 * retry, fallback and circuit breaking; `on-error.ts` turns it into the client's dialect.
 *
 * `message` is safe to show a client: adapters build it from the upstream error's `message` with secrets redacted,
 * never from a raw body. `detail` is for logs only.
 */
import type { Dialect } from './chat-types.ts'
import type { HeaderReader } from './provider-adapter.ts'

export type ProviderErrorKind =
  /** Could not connect, connection reset, DNS failure. */
  | 'connection'
  /** A timeout fired (connect, first byte, idle, total). */
  | 'timeout'
  /** The upstream answered with an HTTP error status. */
  | 'http'
  /** The upstream answered 2xx with something we cannot read (bad JSON, broken SSE, wrong shape). */
  | 'bad-response'
  /** The request cannot be expressed for this provider (conversion gap): a client error, never retried. */
  | 'unsupported'
  /** The request was aborted by the client. */
  | 'aborted'

export type ProviderErrorOptions = {
  kind: ProviderErrorKind
  message: string
  /** Upstream HTTP status for `http`; otherwise the status the client should see (502, 504, 400, 499). */
  status: number
  retryable?: boolean
  retryAfterMs?: number | null
  /** Upstream error `type` (OpenAI `error.type`, Anthropic `error.type`), kept so clients can match on it. */
  type?: string | null
  /** Upstream error `code` (`context_length_exceeded`, `model_not_found`...). */
  code?: string | null
  /** Upstream error `param`. */
  param?: string | null
  /**
   * The wire format the upstream spoke (`http`): its `status`, and the `type`, `code`, `param` and `details` read from
   * its error body, mean what they mean there, and a client speaking the same one gets them as they came
   * (`on-error.ts`). Absent where the adapter does not say.
   */
  dialect?: Dialect | null
  /**
   * Anthropic's `error.details` (`{error_code: "enforced_spend_limit_reached"}`, which the SDK reads as `errorCode`),
   * with secrets redacted as `message` is.
   */
  details?: Record<string, unknown> | null
  /** Which provider instance failed. */
  providerId?: string
  /** Log-only detail (never sent to a client). */
  detail?: string
  /**
   * The headers of the upstream's error response (`http`), from which the client gets its retry hints, its rate
   * limits (master key only) and its request id, as an answered call's client does.
   */
  headers?: HeaderReader
  /**
   * The upstream reported the failure in-band, after it had answered 200 (an SSE `error` event, an OpenAI `{"error"}`
   * chunk): `status` is what the error's type stands for, not a status the upstream sent.
   */
  inStream?: boolean
  /**
   * The request never reached the upstream (a connect timeout): the provider cannot have billed it. Unknown (`false`)
   * for other timeouts and aborts, which may cut a request the upstream was working on.
   */
  unsent?: boolean
  cause?: unknown
}

/** Statuses on which a call is retried: 408, 409, 429 and every 5xx (the official SDKs' rule). */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 409 || status === 429 || status >= 500

export class ProviderError extends Error {
  override readonly name = 'ProviderError'
  readonly kind: ProviderErrorKind
  readonly status: number
  readonly retryable: boolean
  readonly retryAfterMs: number | null
  readonly type: string | null
  readonly code: string | null
  readonly param: string | null
  readonly dialect: Dialect | null
  readonly details: Record<string, unknown> | null
  readonly providerId: string | undefined
  readonly detail: string | undefined
  readonly headers: HeaderReader | null
  readonly inStream: boolean
  readonly unsent: boolean

  constructor(options: ProviderErrorOptions) {
    super(options.message, { cause: options.cause })
    this.kind = options.kind
    this.status = options.status
    this.retryable =
      options.retryable ??
      (options.kind === 'connection' ||
        options.kind === 'timeout' ||
        (options.kind === 'http' && isRetryableStatus(options.status)))
    this.retryAfterMs = options.retryAfterMs ?? null
    this.type = options.type ?? null
    this.code = options.code ?? null
    this.param = options.param ?? null
    this.dialect = options.dialect ?? null
    this.details = options.details ?? null
    this.providerId = options.providerId
    this.detail = options.detail
    this.headers = options.headers ?? null
    this.inStream = options.inStream === true
    this.unsent = options.unsent === true
  }

  /** The same error with `overrides` (the provider that failed, that the request was never sent), caused by this one. */
  with(overrides: Partial<ProviderErrorOptions>): ProviderError {
    return new ProviderError({
      kind: this.kind,
      message: this.message,
      status: this.status,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      type: this.type,
      code: this.code,
      param: this.param,
      dialect: this.dialect,
      details: this.details,
      providerId: this.providerId,
      detail: this.detail,
      headers: this.headers ?? undefined,
      inStream: this.inStream,
      unsent: this.unsent,
      cause: this,
      ...overrides,
    })
  }
}

export const isProviderError = (error: unknown): error is ProviderError =>
  error instanceof ProviderError
