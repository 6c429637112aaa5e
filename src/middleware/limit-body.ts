import type { MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { GatewayError } from '../core/errors.ts'
import type { GatewayEnv } from './gateway-env.ts'

/**
 * 413 for bodies over `maxBytes`, decided from `content-length` before anything is read. Hono's `bodyLimit` reads
 * `request.body` first, which on `@hono/node-server` turns its lightweight request into a full `Request` (a tenth of
 * the gateway's CPU per request in the benchmark); it is kept only for bodies without a declared length (chunked).
 *
 * The 413 leaves the rest of the body unread and the connection open: the runtime reads it away before the next
 * request (on Node, `serve-node.ts`, within bounds), since closing on a client that is still sending resets the
 * connection and the client never reads the 413.
 */
export const limitBody = (maxBytes: number): MiddlewareHandler<GatewayEnv> => {
  const tooLarge = (): never => {
    throw new GatewayError(
      'payload_too_large',
      `The request body is larger than ${maxBytes} bytes.`
    )
  }
  const streamingLimit = bodyLimit({ maxSize: maxBytes, onError: tooLarge })
  return async function limitBody(c, next) {
    const declared = c.req.header('content-length')
    if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(declared) > maxBytes) tooLarge()
      return next()
    }
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    return streamingLimit(c, next)
  }
}
