/**
 * Inbound OpenAI request schemas. A request for an OpenAI-dialect model is forwarded, so these must not be stricter
 * than the server behind it (new roles and content part types, OpenAI-compatible servers taking more than OpenAI
 * does): only what the gateway reads is checked (`model` to route on, `stream` and `stream_options` for accounting,
 * `messages` as objects with a `role`); every other field is described for /openapi.json and judged upstream, or by
 * `convertOpenAIRequest` for another provider. Routes forward what zod returns, so a request schema must never add or
 * change a value: no `.default()`, no `.transform()`, no coercion (`request-schemas.test.ts` checks).
 * https://platform.openai.com/docs/api-reference/chat/create
 */
import { z } from '@hono/zod-openapi'
import { validatedSynchronously } from '../validated-synchronously.ts'
import { upstreamJudged } from '../upstream-judged.ts'

const chatMessageSchema = z.looseObject({
  role: z.string().openapi({
    description:
      '`system`, `developer`, `user`, `assistant` or `tool`; other roles are left to the upstream',
  }),
  content: upstreamJudged(
    z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]).nullable()
  ),
})

export const chatCompletionRequestSchema = validatedSynchronously(
  z
    .looseObject({
      model: z.string().min(1),
      messages: z.array(chatMessageSchema).min(1),
      stream: z.boolean().nullable().optional(),
      stream_options: z
        .looseObject({ include_usage: z.boolean().optional() })
        .nullable()
        .optional(),
      n: upstreamJudged(z.number().nullable()),
      max_tokens: upstreamJudged(z.number().nullable()),
      max_completion_tokens: upstreamJudged(z.number().nullable()),
      temperature: upstreamJudged(z.number().nullable()),
      top_p: upstreamJudged(z.number().nullable()),
      stop: upstreamJudged(z.union([z.string(), z.array(z.string())]).nullable()),
      tools: upstreamJudged(z.array(z.looseObject({ type: z.string() }))),
      tool_choice: upstreamJudged(z.union([z.string(), z.looseObject({ type: z.string() })])),
      response_format: upstreamJudged(z.looseObject({ type: z.string() })),
      seed: upstreamJudged(z.number().nullable()),
      logprobs: upstreamJudged(z.boolean().nullable()),
    })
    .openapi('CreateChatCompletionRequest')
)

export type ChatCompletionRequestBody = z.infer<typeof chatCompletionRequestSchema>

export const embeddingsRequestSchema = validatedSynchronously(
  z
    .looseObject({
      model: z.string().min(1),
      input: z.union([
        z.string(),
        z.array(z.string()).min(1),
        z.array(z.number().int()).min(1),
        z.array(z.array(z.number().int()).min(1)).min(1),
      ]),
      encoding_format: z.enum(['float', 'base64']).optional(),
      dimensions: z.number().int().min(1).optional(),
    })
    .openapi('CreateEmbeddingRequest')
)

/** Response shapes, for the OpenAPI document only (responses are not validated at run time). */
export const chatCompletionResponseSchema = z
  .looseObject({
    id: z.string(),
    object: z.enum(['chat.completion']),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.looseObject({
        index: z.number().int(),
        message: z.looseObject({}),
        finish_reason: z.string(),
      })
    ),
    usage: z
      .looseObject({
        prompt_tokens: z.number(),
        completion_tokens: z.number(),
        total_tokens: z.number(),
      })
      .optional(),
  })
  .openapi('CreateChatCompletionResponse', {
    description:
      'A chat completion; with `stream: true`, a `text/event-stream` of `chat.completion.chunk` objects ending in `data: [DONE]`.',
  })

export const embeddingsResponseSchema = z
  .looseObject({
    object: z.enum(['list']),
    data: z.array(
      z.looseObject({
        object: z.enum(['embedding']),
        index: z.number().int(),
        embedding: z.union([z.array(z.number()), z.string()]),
      })
    ),
    model: z.string(),
    usage: z.looseObject({ prompt_tokens: z.number(), total_tokens: z.number() }),
  })
  .openapi('CreateEmbeddingResponse')

export const modelSchema = z
  .looseObject({
    id: z.string(),
    object: z.enum(['model']),
    created: z.number().int(),
    owned_by: z.string(),
  })
  .openapi('Model')

export const modelListSchema = z
  .looseObject({ object: z.enum(['list']), data: z.array(modelSchema) })
  .openapi('ListModelsResponse')

export const openAIErrorSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable(),
    }),
  })
  .openapi('OpenAIError')
