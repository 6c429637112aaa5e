/**
 * The Worker's `fetch` handler. `Deps` and the app are built on the first request and kept for the isolate's life:
 * bindings do not change within an isolate, and per-isolate state (circuit breakers, model lists) should outlive a
 * request. A configuration that does not load makes every request answer 503 in the client's dialect, with the
 * problems in the log (never in the response: they can quote the YAML).
 * https://developers.cloudflare.com/workers/runtime-apis/handlers/fetch/
 */
import type { ExecutionContext } from 'hono'
import { createApp } from '../app.ts'
import { GatewayError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { errorResponse } from '../middleware/on-error.ts'
import { detectDialect, newRequestId } from '../middleware/request-context.ts'
import type { WorkersEnv } from './workers-deps.ts'
import { createWorkersDeps } from './workers-deps.ts'

export type WorkersHandlerOptions = {
  /** workerd's `waitUntil` from `cloudflare:workers`: tied to whichever request is running, unlike one `ctx`. */
  waitUntil: (promise: Promise<unknown>) => void
  /** Upstream `fetch`; the global one by default. */
  fetch?: typeof fetch
}

export interface WorkersHandler {
  fetch(request: Request, env: WorkersEnv, ctx: ExecutionContext): Promise<Response>
}

type Ready = { ok: true; app: ReturnType<typeof createApp> }
type Broken = { ok: false; errors: string[]; logger: Logger }

const unavailable = (request: Request, error: GatewayError): Response => {
  const requestId = newRequestId()
  return errorResponse(
    error,
    detectDialect(new URL(request.url).pathname, request.headers),
    requestId
  )
}

export const createWorkersHandler = (options: WorkersHandlerOptions): WorkersHandler => {
  let state: Ready | Broken | undefined

  const build = (env: WorkersEnv): Ready | Broken => {
    const setup = createWorkersDeps({ env, waitUntil: options.waitUntil, fetch: options.fetch })
    if (!setup.ok) return setup
    return { ok: true, app: createApp(setup.deps) }
  }

  return {
    async fetch(request, env, ctx) {
      state ??= build(env)
      if (state.ok) return state.app.fetch(request, env, ctx)
      state.logger.error(
        { problems: state.errors },
        'the gateway configuration is invalid; every request answers 503'
      )
      return unavailable(
        request,
        new GatewayError(
          'unavailable',
          "The gateway's configuration is invalid; the Worker's logs list the problems.",
          {
            headers: { 'x-should-retry': 'false' },
          }
        )
      )
    },
  }
}
