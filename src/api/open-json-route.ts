/**
 * The model routes (chat completions, messages, token counts, embeddings, responses): a JSON body and nothing else to
 * validate. `app.openapi()` would run each request through two middleware of its own before the handler, a media-type
 * gate and `@hono/zod-validator` over Hono's generic validator (which also knows forms, queries and cookies), each an
 * async layer of the middleware chain. These routes are the hot path, so the check is made here in one step: the
 * same answers (415 for a body that is not JSON, 400 for malformed JSON, the validation hook's 400 for a body the
 * schema refuses), then the handler with the validated body in `c.req.valid('json')`. The route is still described
 * in the OpenAPI document as `app.openapi()` would describe it, and served among the direct routes, with no
 * middleware chain around it (`direct-routes.ts`).
 */
import type { RouteConfig } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ZodType } from 'zod'
import type { GatewayEnv } from '../middleware/gateway-env.ts'
import type { GatewayApi } from './direct-routes.ts'
import { validationHook } from './validation-hook.ts'
import { GatewayError } from '../core/errors.ts'
import { clientLeftMidBody } from '../middleware/admit-request.ts'
import { finishRequestContext } from '../middleware/request-context.ts'

/**
 * A `Content-Type` the route's `application/json` admits (a JSON type, `+json` suffixes, parameters): the body is then
 * read as JSON.
 */
const admittedContentType = /^application\/([a-z.-]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i

/** Whether a request that names no content type still sends bytes (then it is refused as unsupported). */
const sendsBytes = async (c: Context<GatewayEnv>): Promise<boolean> =>
  c.req.raw.body !== null && (await c.req.arrayBuffer()).byteLength > 0

/**
 * Why the body could not be read: the gateway's own refusal as it is (a body over the limit is a 413), anything else
 * the client's connection failing while it sent, which is the client leaving (`clientLeftMidBody`).
 */
const bodyReadFailure = (error: unknown): unknown =>
  error instanceof HTTPException || error instanceof GatewayError ? error : clientLeftMidBody(error)

export type JsonRouteHandler = (c: Context<GatewayEnv>) => Promise<Response>

export const openJsonRoute = (
  app: GatewayApi,
  route: RouteConfig,
  handler: JsonRouteHandler
): void => {
  const { request } = route
  const media = request?.body?.content?.['application/json']
  const schema = (media !== undefined && 'schema' in media ? media.schema : undefined) as
    ZodType | undefined
  if (
    schema === undefined ||
    request?.body?.required !== true ||
    Object.keys(request.body.content).length !== 1 ||
    request.query !== undefined ||
    request.params !== undefined ||
    request.headers !== undefined ||
    request.cookies !== undefined
  )
    throw new Error(`openJsonRoute: ${route.method} ${route.path} must take a JSON body only`)
  app.openAPIRegistry.registerPath(route)
  app.directRoutes.add(route.method.toUpperCase(), route.path, async (c) => {
    const contentType = c.req.header('content-type')
    if (contentType ? !admittedContentType.test(contentType) : await sendsBytes(c))
      throw new HTTPException(415, { message: 'Unsupported Media Type' })
    // No content type and no bytes: an empty body, which the schema refuses with its 400.
    let value: unknown = {}
    if (contentType) {
      let text: string
      try {
        text = await c.req.text()
      } catch (error) {
        throw bodyReadFailure(error)
      }
      try {
        value = JSON.parse(text)
      } catch {
        throw new HTTPException(400, { message: 'Malformed JSON in request body' })
      }
      c.set('jsonText', text)
    }
    const result = schema.safeParse(value)
    // Throws the client's 400 for a refused body, and for one nested deeper than the gateway reads. Written out, not
    // `{ ...result, target }`: a key added after a spread makes a hidden class per request (docs/architecture.md).
    validationHook(
      result.success
        ? { success: true, data: result.data, target: 'json' }
        : { success: false, error: result.error, target: 'json' },
      c
    )
    c.req.addValidatedData('json', result.data as object)
    // Awaited, not returned: an async function that returns a promise settles two microtask turns after it (the
    // promise is adopted through a job of its own), and every request of these routes would pay for them.
    return finishRequestContext(c, await handler(c))
  })
}
