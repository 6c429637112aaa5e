/**
 * How a parsed SSE stream from an upstream fails, the same for every stream parser: a body that breaks while being
 * read (a reset socket, a torn TLS record) is a connection failure; one that ends before the stream said it finished is
 * a truncation; an event cut off by the end of the body, which the SSE parser flushes and which then fails to parse,
 * is that truncation too, not a malformed event.
 */
import type { ChunkReader } from '../spec/provider-adapter.ts'
import { SseEventTooLarge, type SseEvent } from './parse-sse.ts'
import { isProviderError, ProviderError } from '../spec/provider-error.ts'
import { redactSecrets } from './redact-secrets.ts'

/** A `bad-response` (502): the upstream sent something the gateway cannot read. */
export const badUpstreamResponse = (
  providerId: string,
  message: string,
  detail?: string
): ProviderError =>
  new ProviderError({ kind: 'bad-response', status: 502, message, providerId, detail })

/** A failure while reading the body that the transport did not already type. */
export const streamReadFailure = (error: unknown, providerId: string): ProviderError =>
  isProviderError(error)
    ? error
    : error instanceof SseEventTooLarge
      ? badUpstreamResponse(providerId, error.message)
      : new ProviderError({
          kind: 'connection',
          status: 502,
          message: 'The connection to the upstream failed in the middle of the stream.',
          providerId,
          cause: error,
        })

export const streamClosedEarly = (providerId: string): ProviderError =>
  badUpstreamResponse(providerId, 'The upstream closed the stream before it finished.')

/**
 * The failure a forwarded stream reported in-band (an Anthropic `event: error`, an OpenAI `{"error": ...}` chunk, a
 * Responses `error` or `response.failed`), for the record and the breaker: the client has the event itself. Its
 * status is what the tap's dialect says of it (`ForwardEnd`), else the upstream's fault, 502.
 */
export const inBandFailure = (
  providerId: string,
  error: { message: string; type?: string; status?: number }
): ProviderError =>
  new ProviderError({
    kind: 'http',
    status: error.status ?? 502,
    message: redactSecrets(error.message),
    type: error.type,
    providerId,
    inStream: true,
  })

/** A parse failure of the last event, when the body ended right after it, is reported as the truncation it is. */
export const explainStreamFailure = async (
  error: unknown,
  events: ChunkReader<SseEvent>,
  providerId: string
): Promise<unknown> => {
  if (!isProviderError(error) || error.kind !== 'bad-response') return error
  const next = await events.read().catch(() => ({ done: false }))
  return next.done ? streamClosedEarly(providerId) : error
}
