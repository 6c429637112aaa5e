/**
 * The upstream transport of runtimes where `fetch` is the only HTTP client (Cloudflare Workers). Web-standard only.
 *
 * `fetch` has no connect timeout (`connectTimeoutMs` is ignored; the core's first-byte and total deadlines still
 * apply through `signal`) and no pool to tune. Redirects are returned, not followed: an API answering 3xx is a
 * misconfigured base URL, and following it would replay a POST (and its provider key) somewhere else, which the
 * Node transport (undici `request`) never does either.
 * https://developers.cloudflare.com/workers/runtime-apis/fetch/
 */
import { toAbortSignal } from '../core/abort-token.ts'
import type {
  UpstreamRequest,
  UpstreamResponse,
  UpstreamTransport,
} from '../../providers/spec/provider-adapter.ts'
import { isProviderError, ProviderError } from '../../providers/spec/provider-error.ts'

export type FetchTransportOptions = {
  /** The `fetch` to call; the global one by default. Resolved per request, so a test may replace the global. */
  fetch?: typeof fetch
}

const emptyBody = (): ReadableStream<Uint8Array> =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.close()
    },
  })

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/** What a rejected `fetch` means: the signal's reason when the core aborted it, else a connection failure. */
const toProviderError = (error: unknown, request: UpstreamRequest): ProviderError => {
  if (request.signal.aborted) {
    const reason: unknown = request.signal.reason
    if (isProviderError(reason)) return reason
    return new ProviderError({
      kind: 'aborted',
      message: 'The request was aborted before the upstream answered.',
      status: 499,
      detail: describeError(reason),
      cause: reason,
    })
  }
  return new ProviderError({
    kind: 'connection',
    message: 'Could not connect to the upstream provider.',
    status: 502,
    detail: `${request.method} ${new URL(request.url).origin}: ${describeError(error)}`,
    cause: error,
  })
}

/** What a failed read of the answer's body means: the signal's reason when the core aborted it, else the connection. */
const bodyFailure = (error: unknown, request: UpstreamRequest): ProviderError => {
  if (request.signal.aborted) return toProviderError(error, request)
  if (isProviderError(error)) return error
  return new ProviderError({
    kind: 'connection',
    message: 'The upstream provider closed the connection.',
    status: 502,
    detail: `${request.method} ${new URL(request.url).origin}: ${describeError(error)}`,
    cause: error,
  })
}

/**
 * The answer's body with its read failures typed as the Node transport types them (a connection failure, or the
 * abort's reason): the runtime's own error ("Network connection lost.") would otherwise reach the core untyped, where
 * a whole body that broke mid-way was an internal error, never retried, and a stream's end "an internal error".
 */
const typedBody = (
  body: ReadableStream<Uint8Array>,
  request: UpstreamRequest
): ReadableStream<Uint8Array> => {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let step: ReadableStreamReadResult<Uint8Array>
        try {
          step = await reader.read()
        } catch (error) {
          controller.error(bodyFailure(error, request))
          return
        }
        if (step.done) controller.close()
        else controller.enqueue(step.value)
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 }
  )
}

export const createFetchTransport = (options: FetchTransportOptions = {}): UpstreamTransport => ({
  async request(request) {
    const send = options.fetch ?? globalThis.fetch
    let response: Response
    try {
      response = await send(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body as BodyInit | undefined,
        signal: toAbortSignal(request.signal),
        redirect: 'manual',
      })
    } catch (error) {
      throw toProviderError(error, request)
    }
    const upstream: UpstreamResponse = {
      status: response.status,
      headers: response.headers,
      body: response.body === null ? emptyBody() : typedBody(response.body, request),
    }
    return upstream
  },
})
