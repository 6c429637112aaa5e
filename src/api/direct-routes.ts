/**
 * The model routes (chat completions, messages, token counts, embeddings, responses) are served by a Hono app of their
 * own, tried before the API app, in which each route is one handler and no middleware matches: Hono then calls the
 * handler directly. Behind any `app.use`, it runs a request through its middleware chain instead, an async function
 * per layer and another around the whole (`compose`), each awaiting the next: nine promises of a plain call's 37, and
 * about 2 to 4% of its instructions (`bench/measure-cost.ts plain` with `MEASURE_CALLGRIND`, docs/benchmark.md).
 * What the API app's middleware does for `/v1` (the request's context, then the body limit and the key) the handler
 * does here itself, in the same order, as plain calls: a refusal is thrown, and answered by the same `onError` in the
 * client's dialect. Middleware added to the API app with `use` does not reach these routes: what they need goes here.
 *
 * Whatever this app does not serve (another path, another method, a `HEAD`) is handed to the API app as it came, by
 * this app's not-found handler.
 */
import type { OpenAPIHono } from '@hono/zod-openapi'
import { Hono, type Context, type ErrorHandler, type MiddlewareHandler } from 'hono'
import type { Clock } from '../core/clock.ts'
import type { GatewayEnv } from '../middleware/gateway-env.ts'
import { beginRequestContext, finishRequestContext } from '../middleware/request-context.ts'

/**
 * A direct route's handler. Its response must carry the request's ids (`finishRequestContext`, or the headers of
 * `takeRequestIdHeaders`): it goes to the client as the handler's promise gives it, with no step of its own after it.
 */
export type DirectHandler = (c: Context<GatewayEnv>) => Promise<Response>

export type DirectRoutes = {
  /** Serves `method path` with `handler`, after the request's context and its admission (`admit`). */
  add(method: string, path: string, handler: DirectHandler): void
}

/** The API app the route functions register on, with the direct routes beside it (`openJsonRoute` uses them). */
export type GatewayApi = OpenAPIHono<GatewayEnv> & { readonly directRoutes: DirectRoutes }

/** The context's `ExecutionContext` (Workers), or `undefined` (Node), whose getter throws when there is none. */
const executionContextOf = (c: Context<GatewayEnv>) => {
  try {
    return c.executionCtx
  } catch {
    return undefined
  }
}

export const createDirectRoutes = (options: {
  /** Where everything else goes. */
  api: OpenAPIHono<GatewayEnv>
  clock: Clock
  /** The body limit and key check of every `/v1` request (`admitRequest`). */
  admit: MiddlewareHandler<GatewayEnv>
  onError: ErrorHandler<GatewayEnv>
}): { app: Hono<GatewayEnv>; routes: DirectRoutes } => {
  const { api, clock, admit } = options
  const app = new Hono<GatewayEnv>()
  app.onError(options.onError)
  app.notFound((c) => api.fetch(c.req.raw, c.env, executionContextOf(c)))
  const routes: DirectRoutes = {
    add(method, path, handler) {
      app.on(method, path, (c) => {
        beginRequestContext(c, clock)
        let answered: Promise<Response> | undefined
        // A middleware's `next`, which here hands the handler's promise on: `admit` returns it as it is when it has
        // nothing more to do (a declared body length, a known key), one promise fewer than waiting for both.
        const next = (): Promise<void> =>
          (answered = handler(c)) as Promise<unknown> as Promise<void>
        // Throws a refusal at once (Hono answers it through `onError`), or settles once the handler has. The handler's
        // own promise goes to Hono as it is: a step after it (`.then`) would be one more turn of the microtask queue
        // for every request.
        const admitted = admit(c, next) as Promise<unknown>
        if (admitted === answered) return answered
        return admitted.then(() =>
          answered === undefined ? finishRequestContext(c, c.res) : answered
        )
      })
    },
  }
  return { app, routes }
}
