import type { Context, MiddlewareHandler, Next } from 'hono'
import { GatewayError } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import type { Authenticator } from './authenticate.ts'
import type { GatewayEnv } from './gateway-env.ts'

/** The key a client presents: `Authorization: Bearer <key>` (OpenAI SDK) or `x-api-key: <key>` (Anthropic SDK). */
export const presentedKey = (headers: Headers): string | null => {
  const authorization = headers.get('authorization')
  if (authorization !== null) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim())
    if (match) return match[1].trim()
  }
  return headers.get('x-api-key')?.trim() || null
}

/**
 * A body the client stopped sending (its connection closed mid-body: Node's `aborted`): the client leaving (499,
 * recorded as `client_aborted`), not a malformed body and not the gateway's failure.
 */
export const clientLeftMidBody = (cause: unknown): GatewayError =>
  // The runtime's own reason (Node: a request cut by `server.requestTimeoutMs`) is kept.
  cause instanceof GatewayError
    ? cause
    : new GatewayError(
        'invalid_request',
        'The client closed the request before its body was sent.',
        {
          status: 499,
          cause,
        }
      )

/**
 * What `/v1` and `/admin` ask of every request before its route, in one middleware (each layer of Hono's chain is
 * an async step of every request): a body within `maxBodyBytes`, then a valid key, whose principal is set on the
 * context. A missing or invalid key is a 401 in the client's dialect (the key itself never reaches a log or a
 * response); a body over the limit a 413, before the key is looked at.
 *
 * The limit is decided from `content-length` before anything is read. Hono's `bodyLimit` reads `request.body`
 * first, which on `@hono/node-server` turns its lightweight request into a full `Request` (a tenth of the gateway's
 * CPU per request in the benchmark); it is kept only for bodies without a declared length (chunked). The 413 leaves
 * the rest of the body unread and the connection open: the runtime reads it away before the next request (on Node,
 * `serve-node.ts`, within bounds), since closing on a client that is still sending resets the connection and the
 * client never reads the 413.
 *
 * A key the authenticator remembers is answered without a promise (`Authenticator.authenticate`), so a known key
 * costs no asynchronous step either.
 */
export const admitRequest = (options: {
  maxBodyBytes: number
  authenticator: Authenticator
}): MiddlewareHandler<GatewayEnv> => {
  const { maxBodyBytes, authenticator } = options
  const tooLarge = (): never => {
    throw new GatewayError(
      'payload_too_large',
      `The request body is larger than ${maxBodyBytes} bytes.`
    )
  }
  /**
   * A body without a declared length (chunked), read whole here within the limit (as Hono's `bodyLimit` does), so a
   * failure while reading is told apart from one of the route: a connection that closes mid-body is the client leaving.
   */
  const streamingLimit = async (c: Context<GatewayEnv>, next: Next): Promise<void> => {
    let body: ReadableStream<Uint8Array> | null
    try {
      // On Node the request is made from the connection here, and fails when the client has already gone.
      body = c.req.raw.body
    } catch (error) {
      throw clientLeftMidBody(error)
    }
    if (body === null) return next()
    const reader = body.getReader()
    const parts: Uint8Array[] = []
    let size = 0
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>
      try {
        step = await reader.read()
      } catch (error) {
        throw clientLeftMidBody(error)
      }
      if (step.done) break
      size += step.value.byteLength
      if (size > maxBodyBytes) tooLarge()
      parts.push(step.value)
    }
    const whole = new Uint8Array(size)
    let offset = 0
    for (const part of parts) {
      whole.set(part, offset)
      offset += part.byteLength
    }
    // A new request with the body read, not one made from the old (whose body is read, and may have ended broken).
    const raw = c.req.raw
    c.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body: whole })
    return next()
  }
  const admitted = (
    c: Context<GatewayEnv>,
    next: Next,
    principal: Principal | null,
    lengthDeclared: boolean
  ): Promise<void> => {
    if (principal === null)
      throw new GatewayError('authentication', 'Invalid API key.', {
        openaiCode: 'invalid_api_key',
      })
    c.set('principal', principal)
    if (lengthDeclared || c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    return streamingLimit(c, next)
  }
  // Not an async function: a refusal is thrown, which Hono's chain takes as it takes a rejection.
  return function admitRequest(c, next) {
    const declared = c.req.header('content-length')
    const lengthDeclared = declared !== undefined && c.req.header('transfer-encoding') === undefined
    if (lengthDeclared && Number(declared) > maxBodyBytes) tooLarge()
    const key = presentedKey(c.req.raw.headers)
    if (key === null) {
      throw new GatewayError(
        'authentication',
        'Missing API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.'
      )
    }
    const found = authenticator.authenticate(key)
    if (found instanceof Promise)
      return found.then((principal) => admitted(c, next, principal, lengthDeclared))
    return admitted(c, next, found, lengthDeclared)
  }
}
