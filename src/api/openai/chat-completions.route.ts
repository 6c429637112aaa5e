import { createRoute } from '@hono/zod-openapi'
import type { Deps } from '../../deps.ts'
import type { PromptCache } from '../../core/cache/prompt-cache.ts'
import type { Executor } from '../../core/execute.ts'
import { errorResponses } from '../error-responses.ts'
import { createChatHandler } from '../handle-chat.ts'
import { openJsonRoute } from '../open-json-route.ts'
import { openAICodec } from './openai-codec.ts'
import {
  chatCompletionRequestSchema,
  chatCompletionResponseSchema,
  openAIErrorSchema,
} from './openai-schemas.ts'
import type { GatewayApi } from '../direct-routes.ts'

export const chatCompletionsRoute = createRoute({
  method: 'post',
  path: '/v1/chat/completions',
  tags: ['OpenAI'],
  summary:
    'Create a chat completion (OpenAI-compatible), streamed or not, routed to any configured provider',
  security: [{ bearerAuth: [] }],
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: chatCompletionRequestSchema } },
    },
  },
  responses: {
    200: {
      description:
        'The completion (JSON), or with `stream: true` a server-sent event stream of chunks',
      content: {
        'application/json': { schema: chatCompletionResponseSchema },
        'text/event-stream': { schema: { type: 'string' } },
      },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

/** https://platform.openai.com/docs/api-reference/chat/create */
export const registerChatCompletions = (
  app: GatewayApi,
  deps: Deps,
  executor: Executor,
  promptCache: PromptCache | null = null
): void => {
  openJsonRoute(
    app,
    chatCompletionsRoute,
    createChatHandler({
      deps,
      executor,
      codec: openAICodec,
      operation: 'chat-completions',
      promptCache,
    })
  )
}
