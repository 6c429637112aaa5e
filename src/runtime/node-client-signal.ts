/**
 * Client disconnects on Node: the response's `close` event before it finished is the client going away (the same
 * test @hono/node-server applies to abort `request.signal`). Asking for `request.signal` instead would make that
 * library create an `AbortController` for every request, about 3 µs and 3 KB each on Node 20.
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { AbortHandle } from '../../providers/spec/provider-adapter.ts'
import { createAbortToken, type AbortToken } from '../core/abort-token.ts'

/**
 * The tokens handed out for the requests in flight on a connection, kept on its socket for `abortClientSignals`. On
 * the socket, not the response, and in a property, not a `Set` or `WeakMap`: hashing every `ServerResponse` into a
 * set (c41380d) took plain calls at full rate from 0.71-0.79 to 0.57-0.61 of the reference proxy; a socket lives
 * for many requests, so its property is added once and then only written.
 */
const tokensKey = Symbol('gatehouse.clientSignals')
type Tracked = Socket & { [tokensKey]?: AbortToken | AbortToken[] }

/**
 * Aborts what was handed out as client signals for the requests in flight on `socket` with `reason`: the drain, when
 * its time is up, ends the calls still running with the gateway's own reason (shutting down) before it closes their
 * connections, so a stream ends with an error event and its record does not say the client left.
 */
export const abortClientSignals = (socket: Socket, reason: unknown): void => {
  const tokens = (socket as Tracked)[tokensKey]
  if (tokens === undefined) return
  if (Array.isArray(tokens)) for (const token of [...tokens]) token.abort(reason)
  else tokens.abort(reason)
}

const track = (socket: Tracked, token: AbortToken): void => {
  const earlier = socket[tokensKey]
  socket[tokensKey] =
    earlier === undefined ? token : Array.isArray(earlier) ? [...earlier, token] : [earlier, token]
}

const untrack = (socket: Tracked, token: AbortToken): void => {
  const tokens = socket[tokensKey]
  if (tokens === token) socket[tokensKey] = undefined
  else if (Array.isArray(tokens)) {
    const left = tokens.filter((other) => other !== token)
    socket[tokensKey] = left.length === 0 ? undefined : left.length === 1 ? left[0] : left
  }
}

/** `env` is @hono/node-server's `{ incoming, outgoing }`; without an `outgoing` the request's own signal serves. */
export const nodeClientSignal = (request: Request, env: unknown): AbortHandle => {
  const outgoing = (env as { outgoing?: ServerResponse } | undefined)?.outgoing
  if (outgoing === undefined || typeof outgoing.once !== 'function') return request.signal
  const token = createAbortToken()
  const socket = outgoing.socket as Tracked | null
  if (socket !== null) track(socket, token)
  const gone = (): void => token.abort(new Error('Client connection prematurely closed.'))
  if (outgoing.closed && !outgoing.writableFinished) gone()
  else
    outgoing.once('close', () => {
      if (socket !== null) untrack(socket, token)
      if (!outgoing.writableFinished) gone()
    })
  return token
}
