/**
 * Inbound OpenAI request schemas. They check only what the gateway reads and let everything else through
 * (`z.looseObject`, at every level). Routes forward what zod returns, so a request schema must never add or change
 * a value: no `.default()`, no `.transform()`, no coercion (`request-schemas.test.ts` checks).
 * https://platform.openai.com/docs/api-reference/chat/create
 */
import { z } from '@hono/zod-openapi'

const role = z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function'])

export const chatMessageSchema = z.looseObject({
  role,
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
})

export const chatCompletionRequestSchema = z
  .looseObject({
    model: z.string().min(1),
    messages: z.array(chatMessageSchema).min(1),
    stream: z.boolean().nullable().optional(),
    stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
    n: z.number().int().min(1).max(128).nullable().optional(),
    max_tokens: z.number().int().min(1).nullable().optional(),
    max_completion_tokens: z.number().int().min(1).nullable().optional(),
    temperature: z.number().nullable().optional(),
    top_p: z.number().nullable().optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4), z.null()]).optional(),
    tools: z.array(z.looseObject({ type: z.string() })).optional(),
    tool_choice: z.union([z.string(), z.looseObject({ type: z.string() })]).optional(),
    response_format: z.looseObject({ type: z.string() }).optional(),
    seed: z.number().int().nullable().optional(),
    logprobs: z.boolean().nullable().optional(),
  })
  .openapi('CreateChatCompletionRequest')

export type ChatCompletionRequestBody = z.infer<typeof chatCompletionRequestSchema>

export const embeddingsRequestSchema = z
  .looseObject({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number().int()).min(1), z.array(z.array(z.number().int()).min(1)).min(1)]),
    encoding_format: z.enum(['float', 'base64']).optional(),
    dimensions: z.number().int().min(1).optional(),
  })
  .openapi('CreateEmbeddingRequest')

/** Response shapes, for the OpenAPI document only (responses are not validated at run time). */
export const chatCompletionResponseSchema = z
  .looseObject({
    id: z.string(),
    object: z.enum(['chat.completion']),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(z.looseObject({ index: z.number().int(), message: z.looseObject({}), finish_reason: z.string() })),
    usage: z.looseObject({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() }).optional(),
  })
  .openapi('CreateChatCompletionResponse', {
    description: 'A chat completion; with `stream: true`, a `text/event-stream` of `chat.completion.chunk` objects ending in `data: [DONE]`.',
  })

export const embeddingsResponseSchema = z
  .looseObject({
    object: z.enum(['list']),
    data: z.array(z.looseObject({ object: z.enum(['embedding']), index: z.number().int(), embedding: z.union([z.array(z.number()), z.string()]) })),
    model: z.string(),
    usage: z.looseObject({ prompt_tokens: z.number(), total_tokens: z.number() }),
  })
  .openapi('CreateEmbeddingResponse')

export const modelSchema = z
  .looseObject({ id: z.string(), object: z.enum(['model']), created: z.number().int(), owned_by: z.string() })
  .openapi('Model')

export const modelListSchema = z.looseObject({ object: z.enum(['list']), data: z.array(modelSchema) }).openapi('ListModelsResponse')

export const openAIErrorSchema = z
  .object({
    error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }),
  })
  .openapi('OpenAIError')
