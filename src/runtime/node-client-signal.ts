/**
 * Client disconnects on Node: the response's `close` event before it finished is the client going away (the same
 * test @hono/node-server applies to abort `request.signal`). Asking for `request.signal` instead would make that
 * library create an `AbortController` for every request, about 3 µs and 3 KB each on Node 20.
 */
import type { ServerResponse } from 'node:http'
import type { AbortHandle } from '../../providers/spec/provider-adapter.ts'
import { createAbortToken } from '../core/abort-token.ts'

/** `env` is @hono/node-server's `{ incoming, outgoing }`; without an `outgoing` the request's own signal serves. */
export const nodeClientSignal = (request: Request, env: unknown): AbortHandle => {
  const outgoing = (env as { outgoing?: ServerResponse } | undefined)?.outgoing
  if (outgoing === undefined || typeof outgoing.once !== 'function') return request.signal
  const token = createAbortToken()
  const gone = (): void => token.abort(new Error('Client connection prematurely closed.'))
  if (outgoing.closed && !outgoing.writableFinished) gone()
  else
    outgoing.once('close', () => {
      if (!outgoing.writableFinished) gone()
    })
  return token
}
