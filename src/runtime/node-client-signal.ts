/**
 * Client disconnects on Node: the response's `close` event before it finished is the client going away (the same
 * test @hono/node-server applies to abort `request.signal`). Asking for `request.signal` instead would make that
 * library create an `AbortController` for every request, about 3 µs and 3 KB each on Node 20.
 */
import type { ServerResponse } from 'node:http'
import type { AbortHandle } from '../../providers/spec/provider-adapter.ts'
import { createAbortToken, type AbortToken } from '../core/abort-token.ts'

/** The tokens handed out for a response, kept on it for `abortClientSignals` (a property: no map to look it up in). */
const tokensKey = Symbol('gatehouse.clientSignals')
type Tracked = ServerResponse & { [tokensKey]?: AbortToken | AbortToken[] }

/**
 * Aborts what was handed out as `response`'s client signal with `reason`: the drain, when its time is up, ends the
 * calls still running with the gateway's own reason (shutting down) before it closes their connections, so a stream
 * ends with an error event and its record does not say the client left.
 */
export const abortClientSignals = (response: ServerResponse, reason: unknown): void => {
  const tokens = (response as Tracked)[tokensKey]
  if (tokens === undefined) return
  if (Array.isArray(tokens)) for (const token of tokens) token.abort(reason)
  else tokens.abort(reason)
}

/** `env` is @hono/node-server's `{ incoming, outgoing }`; without an `outgoing` the request's own signal serves. */
export const nodeClientSignal = (request: Request, env: unknown): AbortHandle => {
  const outgoing = (env as { outgoing?: ServerResponse } | undefined)?.outgoing
  if (outgoing === undefined || typeof outgoing.once !== 'function') return request.signal
  const token = createAbortToken()
  const tracked = outgoing as Tracked
  const earlier = tracked[tokensKey]
  tracked[tokensKey] =
    earlier === undefined ? token : Array.isArray(earlier) ? [...earlier, token] : [earlier, token]
  const gone = (): void => token.abort(new Error('Client connection prematurely closed.'))
  if (outgoing.closed && !outgoing.writableFinished) gone()
  else
    outgoing.once('close', () => {
      if (!outgoing.writableFinished) gone()
    })
  return token
}
