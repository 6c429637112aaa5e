import type { MiddlewareHandler } from 'hono'
import type { Dialect } from '../../providers/spec/chat-types.ts'
import type { Clock } from '../core/clock.ts'
import type { GatewayEnv } from './gateway-env.ts'

const safeRequestId = /^[\w.:@/+=-]{1,128}$/

/**
 * Which error shape a request gets: the Anthropic routes always speak Anthropic; shared routes (`/v1/models`) speak
 * Anthropic when the client sent `anthropic-version` (the Anthropic SDK always does).
 */
export const detectDialect = (path: string, headers: Headers): Dialect =>
  path.startsWith('/v1/messages') || headers.has('anthropic-version') ? 'anthropic' : 'openai'

/**
 * Request id (the client's `x-request-id` when it is a sane token, else a new one), dialect and start time.
 * Every response carries `x-request-id`; Anthropic-shaped ones also `request-id`, which the Anthropic SDK reads.
 */
export const requestContext = (clock: Clock): MiddlewareHandler<GatewayEnv> =>
  async function requestContext(c, next) {
    const given = c.req.header('x-request-id')
    const requestId = given !== undefined && safeRequestId.test(given) ? given : `req_${crypto.randomUUID().replaceAll('-', '')}`
    const dialect = detectDialect(c.req.path, c.req.raw.headers)
    c.set('requestId', requestId)
    c.set('dialect', dialect)
    c.set('startedAt', clock.now())
    await next()
    c.res.headers.set('x-request-id', requestId)
    if (dialect === 'anthropic') c.res.headers.set('request-id', requestId)
  }
