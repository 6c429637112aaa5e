import { createRoute, type OpenAPIHono } from '@hono/zod-openapi'
import type { Deps } from '../../deps.ts'
import type { Executor } from '../../core/execute.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { errorResponses } from '../error-responses.ts'
import { createChatHandler } from '../handle-chat.ts'
import { openAIErrorSchema } from '../openai/openai-schemas.ts'
import { responsesCodec } from './responses-codec.ts'
import { createResponseRequestSchema, responseObjectSchema } from './responses-schemas.ts'

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

/** https://platform.openai.com/docs/api-reference/responses/create */
export const registerResponses = (
  app: OpenAPIHono<GatewayEnv>,
  deps: Deps,
  executor: Executor
): void => {
  app.openapi(
    createResponseRoute,
    createChatHandler({ deps, executor, codec: responsesCodec, operation: 'responses' }) as never
  )
}
