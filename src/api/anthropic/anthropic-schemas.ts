/**
 * Inbound Anthropic request schemas: only what the gateway reads is checked; the rest passes through
 * (`z.looseObject`, at every level). Routes forward what zod returns, so a request schema must never add or change
 * a value (see openai-schemas.ts). https://docs.claude.com/en/api/messages
 */
import { z } from '@hono/zod-openapi'

const contentBlock = z.looseObject({ type: z.string() })

export const anthropicMessageSchema = z.looseObject({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(contentBlock)]),
})

const baseRequest = {
  model: z.string().min(1),
  messages: z.array(anthropicMessageSchema),
  system: z.union([z.string(), z.array(contentBlock)]).optional(),
  tools: z.array(z.looseObject({ name: z.string() })).optional(),
  tool_choice: z.looseObject({ type: z.string() }).optional(),
}

export const messagesRequestSchema = z
  .looseObject({
    ...baseRequest,
    max_tokens: z.number().int().min(1),
    stream: z.boolean().optional(),
    stop_sequences: z.array(z.string()).optional(),
    temperature: z.number().optional(),
    top_p: z.number().optional(),
    top_k: z.number().int().optional(),
  })
  .openapi('CreateMessageRequest')

export const countTokensRequestSchema = z.looseObject(baseRequest).openapi('CountMessageTokensRequest')

export const messageResponseSchema = z
  .looseObject({
    id: z.string(),
    type: z.enum(['message']),
    role: z.enum(['assistant']),
    model: z.string(),
    content: z.array(contentBlock),
    stop_reason: z.string().nullable(),
    stop_sequence: z.string().nullable(),
    usage: z.looseObject({ input_tokens: z.number(), output_tokens: z.number() }),
  })
  .openapi('Message', { description: 'A message; with `stream: true`, a `text/event-stream` of Anthropic stream events.' })

export const anthropicErrorSchema = z
  .object({
    type: z.enum(['error']),
    error: z.object({ type: z.string(), message: z.string() }),
    request_id: z.string().optional(),
  })
  .openapi('AnthropicError')
