import { createRoute } from '@hono/zod-openapi'
import type { PromptCache } from '../../core/cache/prompt-cache.ts'
import type { Deps } from '../../deps.ts'
import type { Executor } from '../../core/execute.ts'
import { errorResponses } from '../error-responses.ts'
import { createChatHandler } from '../handle-chat.ts'
import { openJsonRoute } from '../open-json-route.ts'
import { encodeEmbeddingsBase64 } from './encode-embeddings-base64.ts'
import { openAIEmbeddingsCodec } from './openai-codec.ts'
import {
  embeddingsRequestSchema,
  embeddingsResponseSchema,
  openAIErrorSchema,
} from './openai-schemas.ts'
import type { GatewayApi } from '../direct-routes.ts'

export const embeddingsRoute = createRoute({
  method: 'post',
  path: '/v1/embeddings',
  tags: ['OpenAI'],
  summary:
    'Create embeddings (float or base64), forwarded to an OpenAI-compatible provider or computed by a local embedding model',
  security: [{ bearerAuth: [] }],
  request: {
    body: { required: true, content: { 'application/json': { schema: embeddingsRequestSchema } } },
  },
  responses: {
    200: {
      description: 'Embeddings in input order',
      content: { 'application/json': { schema: embeddingsResponseSchema } },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

/** https://platform.openai.com/docs/api-reference/embeddings/create */
export const registerEmbeddings = (
  app: GatewayApi,
  deps: Deps,
  executor: Executor,
  promptCache: PromptCache | null = null
): void => {
  openJsonRoute(
    app,
    embeddingsRoute,
    createChatHandler({
      deps,
      executor,
      codec: openAIEmbeddingsCodec,
      operation: 'embeddings',
      promptCache,
      transformFor: (body) =>
        body.encoding_format === 'base64' ? encodeEmbeddingsBase64 : undefined,
    })
  )
}
