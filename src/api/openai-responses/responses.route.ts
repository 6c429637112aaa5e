import type { Context } from 'hono'
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Deps } from '../../deps.ts'
import type { Executor } from '../../core/execute.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { errorResponses } from '../error-responses.ts'
import { createChatHandler } from '../handle-chat.ts'
import { openAIErrorSchema } from '../openai/openai-schemas.ts'
import { responsesCodec } from './responses-codec.ts'
import { createResponseRequestSchema, responseObjectSchema } from './responses-schemas.ts'
import { invalidRequest } from '../../core/errors.ts'
import {
  isForwardedRecord,
  prepareStoredResponses,
  responseNotFound,
  scopeOf,
} from './stored-responses.ts'

export const createResponseRoute = createRoute({
  method: 'post',
  path: '/v1/responses',
  tags: ['OpenAI'],
  summary:
    'Create a model response (OpenAI Responses API), streamed or not, routed to any configured provider',
  security: [{ bearerAuth: [] }],
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: createResponseRequestSchema } },
    },
  },
  responses: {
    200: {
      description:
        'The response (JSON), or with `stream: true` a server-sent event stream of response events',
      content: {
        'application/json': { schema: responseObjectSchema },
        'text/event-stream': { schema: { type: 'string' } },
      },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

const idParams = z.object({ id: z.string().min(1) })

export const retrieveResponseRoute = createRoute({
  method: 'get',
  path: '/v1/responses/{id}',
  tags: ['OpenAI'],
  summary: 'Retrieve a response the gateway stored (one it converted, with `store` on)',
  security: [{ bearerAuth: [] }],
  request: { params: idParams },
  responses: {
    200: {
      description: 'The response',
      content: { 'application/json': { schema: responseObjectSchema } },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

export const deleteResponseRoute = createRoute({
  method: 'delete',
  path: '/v1/responses/{id}',
  tags: ['OpenAI'],
  summary: 'Delete a response the gateway stored',
  security: [{ bearerAuth: [] }],
  request: { params: idParams },
  responses: {
    200: {
      description: 'Deleted',
      content: {
        'application/json': {
          schema: z.object({
            id: z.string(),
            object: z.literal('response'),
            deleted: z.boolean(),
          }),
        },
      },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

export const listInputItemsRoute = createRoute({
  method: 'get',
  path: '/v1/responses/{id}/input_items',
  tags: ['OpenAI'],
  summary: 'List the input items of a response the gateway stored',
  security: [{ bearerAuth: [] }],
  request: {
    params: idParams,
    query: z.object({
      after: z.string().optional(),
      limit: z.string().optional(),
      order: z.enum(['asc', 'desc']).optional(),
    }),
  },
  responses: {
    200: {
      description: 'A page of input items',
      content: {
        'application/json': {
          schema: z.looseObject({
            object: z.literal('list'),
            data: z.array(z.looseObject({})),
            has_more: z.boolean(),
          }),
        },
      },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

/** https://platform.openai.com/docs/api-reference/responses/create */
export const registerResponses = (
  app: OpenAPIHono<GatewayEnv>,
  deps: Deps,
  executor: Executor
): void => {
  const store = deps.stores.responses
  app.openapi(
    createResponseRoute,
    createChatHandler({
      deps,
      executor,
      codec: responsesCodec,
      operation: 'responses',
      prepare:
        store === undefined
          ? undefined
          : prepareStoredResponses({
              store,
              clock: deps.clock,
              logger: deps.logger,
              defer: deps.defer,
            }),
    }) as never
  )
  app.openAPIRegistry.registerPath(retrieveResponseRoute)
  app.openAPIRegistry.registerPath(deleteResponseRoute)
  app.openAPIRegistry.registerPath(listInputItemsRoute)
  /** The store, and a response it holds for the caller's tenant and can answer for itself; else a 404. */
  const ownStored = async (c: Context<GatewayEnv>, id: string) => {
    const stored = store === undefined ? null : await store.get(id, scopeOf(c))
    // A forwarded response is the upstream's to show (not proxied yet): as unknown here as any other.
    if (store === undefined || stored === null || isForwardedRecord(stored.response))
      throw responseNotFound(id)
    return { store, stored }
  }
  app.get('/v1/responses/:id', async (c) => {
    const { stored } = await ownStored(c, c.req.param('id'))
    return c.json(stored.response)
  })
  app.delete('/v1/responses/:id', async (c) => {
    const id = c.req.param('id')
    const { store: responses } = await ownStored(c, id)
    if (!(await responses.delete(id, scopeOf(c)))) throw responseNotFound(id)
    return c.json({ id, object: 'response', deleted: true })
  })
  app.get('/v1/responses/:id/input_items', async (c) => {
    const id = c.req.param('id')
    const limitText = c.req.query('limit')
    const limit = limitText === undefined ? 20 : Number(limitText)
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw invalidRequest('`limit` must be a whole number from 1 to 100.', 'limit')
    const order = c.req.query('order') ?? 'desc'
    if (order !== 'asc' && order !== 'desc')
      throw invalidRequest('`order` must be `asc` or `desc`.', 'order')
    const after = c.req.query('after')
    const { store: responses } = await ownStored(c, id)
    const page = await responses.listInputItems(id, scopeOf(c), {
      limit,
      order,
      ...(after === undefined ? {} : { after }),
    })
    if (page === null) throw responseNotFound(id)
    return c.json(page)
  })
}
