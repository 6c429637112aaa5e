import { createRoute, z } from '@hono/zod-openapi'
import type { Deps } from '../../deps.ts'
import type { PromptCache } from '../../core/cache/prompt-cache.ts'
import type { Executor } from '../../core/execute.ts'
import { errorResponses } from '../error-responses.ts'
import { createChatHandler } from '../handle-chat.ts'
import { openJsonRoute } from '../open-json-route.ts'
import { anthropicCodec } from './anthropic-codec.ts'
import {
  anthropicErrorSchema,
  countTokensRequestSchema,
  messageResponseSchema,
  messagesRequestSchema,
} from './anthropic-schemas.ts'
import type { GatewayApi } from '../direct-routes.ts'

const anthropicErrors = errorResponses(anthropicErrorSchema)

export const messagesRoute = createRoute({
  method: 'post',
  path: '/v1/messages',
  tags: ['Anthropic'],
  summary:
    'Create a message (Anthropic-compatible), streamed or not, routed to any configured provider',
  security: [{ apiKeyAuth: [] }],
  request: {
    body: { required: true, content: { 'application/json': { schema: messagesRequestSchema } } },
  },
  responses: {
    200: {
      description: 'The message (JSON), or with `stream: true` a server-sent event stream',
      content: {
        'application/json': { schema: messageResponseSchema },
        'text/event-stream': { schema: { type: 'string' } },
      },
    },
    ...anthropicErrors,
  },
})

export const countTokensRoute = createRoute({
  method: 'post',
  path: '/v1/messages/count_tokens',
  tags: ['Anthropic'],
  summary:
    'Count input tokens: exact from Anthropic, estimated (header `x-gatehouse-token-count: estimated`) elsewhere',
  security: [{ apiKeyAuth: [] }],
  request: {
    body: { required: true, content: { 'application/json': { schema: countTokensRequestSchema } } },
  },
  responses: {
    200: {
      description: 'The input token count',
      content: {
        'application/json': {
          schema: z.object({ input_tokens: z.number().int() }).openapi('MessageTokensCount'),
        },
      },
    },
    ...anthropicErrors,
  },
})

/** https://docs.claude.com/en/api/messages, https://docs.claude.com/en/api/messages-count-tokens */
export const registerMessages = (
  app: GatewayApi,
  deps: Deps,
  executor: Executor,
  promptCache: PromptCache | null = null
): void => {
  const handler = (operation: 'messages' | 'count-tokens') =>
    createChatHandler({
      deps,
      executor,
      codec: anthropicCodec,
      operation,
      // Token counts are not cached: they are cheap, and answered locally for other providers.
      promptCache: operation === 'messages' ? promptCache : null,
    })
  openJsonRoute(app, messagesRoute, handler('messages'))
  openJsonRoute(app, countTokensRoute, handler('count-tokens'))
}
