import type { Context, MiddlewareHandler } from 'hono'
import type { Dialect } from '../../providers/spec/chat-types.ts'
import type { Clock } from '../core/clock.ts'
import type { GatewayEnv } from './gateway-env.ts'
import { randomHex } from '../core/random-ids.ts'

const safeRequestId = /^[\w.:@/+=-]{1,128}$/

/** A request id of the gateway's own: `req_` and 32 random hex digits. */
export const newRequestId = (): string => `req_${randomHex(16)}`

/** Routes only the OpenAI API has: they speak OpenAI whatever else the client sends. */
const openAIOnlyPrefixes = ['/v1/chat/', '/v1/responses', '/v1/embeddings', '/v1/completions']

/**
 * Which error shape a request gets: the Anthropic routes always speak Anthropic, the OpenAI-only routes always
 * OpenAI (a client that sets both vendors' headers on every call must not get Anthropic's error shape from
 * `/v1/chat/completions`); shared routes (`/v1/models`, an unknown path) speak Anthropic when the client sent
 * `anthropic-version` (the Anthropic SDK always does).
 */
export const detectDialect = (path: string, headers: Headers): Dialect => {
  if (path.startsWith('/v1/messages')) return 'anthropic'
  if (!headers.has('anthropic-version')) return 'openai'
  for (const prefix of openAIOnlyPrefixes) if (path.startsWith(prefix)) return 'openai'
  return 'anthropic'
}

/**
 * Request id (the client's `x-request-id` when it is a sane token, else a new one), dialect and start time, set on the
 * context before anything else reads them (`requestContext`; the model routes' own handlers, `direct-routes.ts`).
 */
export const beginRequestContext = (c: Context<GatewayEnv>, clock: Clock): void => {
  const given = c.req.header('x-request-id')
  c.set('requestId', given !== undefined && safeRequestId.test(given) ? given : newRequestId())
  c.set('dialect', detectDialect(c.req.path, c.req.raw.headers))
  c.set('startedAt', clock.now())
}

/**
 * Every response carries `x-request-id`; Anthropic-shaped ones also `request-id`, which the Anthropic SDK reads. Routes
 * on the hot path put them on the response they build (`takeRequestIdHeaders`), and error responses have them from
 * `onError`; any other response gets them here, which on `@hono/node-server` turns its plain header object into
 * `Headers`.
 */
export const finishRequestContext = (c: Context<GatewayEnv>, response: Response): Response => {
  if (c.get('requestIdHeadersSet') === true) return response
  const requestId = c.get('requestId')
  response.headers.set('x-request-id', requestId)
  if (c.get('dialect') === 'anthropic') response.headers.set('request-id', requestId)
  return response
}

/** The request's context (`beginRequestContext`) as a middleware, and its ids on the response after the handler. */
export const requestContext = (clock: Clock): MiddlewareHandler<GatewayEnv> =>
  async function requestContext(c, next) {
    beginRequestContext(c, clock)
    await next()
    finishRequestContext(c, c.res)
  }

/** The request id headers for a response the caller builds; `requestContext` then leaves that response alone. */
export const takeRequestIdHeaders = (c: Context<GatewayEnv>): Record<string, string> => {
  c.set('requestIdHeadersSet', true)
  const requestId = c.get('requestId')
  return c.get('dialect') === 'anthropic'
    ? { 'x-request-id': requestId, 'request-id': requestId }
    : { 'x-request-id': requestId }
}
