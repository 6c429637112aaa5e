/**
 * Inbound Anthropic request schemas. A request for an Anthropic model is forwarded, so these must not be stricter than
 * the API behind it (Claude Code sends `role: "system"` inside `messages`, new block types and fields come with every
 * beta): only what the gateway reads is checked (`model` to route on, `stream`, `messages` as objects with a `role`,
 * `max_tokens` where the API requires it); every other field is described for /openapi.json and judged upstream, or by
 * `convertAnthropicRequest` for another provider. Routes forward what zod returns, so a request schema must never add
 * or change a value (see openai-schemas.ts). https://docs.claude.com/en/api/messages
 */
import { z } from '@hono/zod-openapi'
import { validatedSynchronously } from '../validated-synchronously.ts'
import { upstreamJudged } from '../upstream-judged.ts'

const contentBlock = z.looseObject({ type: z.string() })
const textBlocks = z.union([
  z.string(),
  z.array(z.looseObject({ type: z.enum(['text']), text: z.string() })),
])

const messageSchema = z.looseObject({
  role: z.string().openapi({
    description:
      '`user`, `assistant`, or `system` (a system message in the middle of the conversation); other roles are left to the upstream',
  }),
  content: upstreamJudged(
    z
      .union([z.string(), z.array(contentBlock)])
      .describe('A string, or content blocks of any type the upstream takes')
  ),
})

const promptFields = {
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1),
  system: upstreamJudged(textBlocks.describe('A string, or text blocks (with `cache_control`)')),
  tools: upstreamJudged(
    z
      .array(
        z.union([
          z.looseObject({
            name: z.string(),
            description: z.string().optional(),
            input_schema: z.looseObject({}),
          }),
          z
            .looseObject({ type: z.string(), name: z.string() })
            .describe('A server tool or toolset (`web_search_20250305`...): Anthropic models only'),
        ])
      )
      .describe(
        'Custom tools, and server tools and toolsets (`type`), which go to Anthropic models only'
      )
  ),
  tool_choice: upstreamJudged(
    contentBlock.describe('`{"type": "auto" | "any" | "tool" | "none"}`')
  ),
  thinking: upstreamJudged(
    contentBlock.describe('`{"type": "adaptive"}`, `{"type": "enabled", "budget_tokens": n}`, ...')
  ),
  output_config: upstreamJudged(
    z.looseObject({
      effort: z.enum(['low', 'medium', 'high', 'xhigh', 'max']).optional(),
      format: contentBlock.optional(),
    })
  ),
}

export const messagesRequestSchema = validatedSynchronously(
  z
    .looseObject({
      ...promptFields,
      max_tokens: z.number().int().min(1),
      stream: z.boolean().optional(),
      metadata: upstreamJudged(z.looseObject({ user_id: z.string().optional() })),
      stop_sequences: upstreamJudged(z.array(z.string())),
      temperature: upstreamJudged(z.number()),
      top_p: upstreamJudged(z.number()),
      top_k: upstreamJudged(z.number()),
    })
    .openapi('CreateMessageRequest', {
      description:
        'Fields beyond these (`context_management`, `cache_control`, ...) and the `anthropic-beta` header reach Anthropic models as sent.',
    })
)

export const countTokensRequestSchema = validatedSynchronously(
  z.looseObject(promptFields).openapi('CountMessageTokensRequest')
)

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
  .openapi('Message', {
    description:
      'A message; with `stream: true`, a `text/event-stream` of Anthropic stream events.',
  })

export const anthropicErrorSchema = z
  .object({
    type: z.enum(['error']),
    error: z.object({
      type: z.string(),
      message: z.string(),
      /**
       * An Anthropic upstream's `error.details` as it sent them (redacted), on the same-dialect route:
       * `error_code` is what `@anthropic-ai/sdk` reads as `errorCode`.
       */
      details: z
        .object({ error_code: z.string().optional() })
        .catchall(z.unknown())
        .optional()
        .openapi({ description: "The upstream's `error.details`, as sent (secrets redacted)." }),
    }),
    request_id: z.string().optional(),
  })
  .openapi('AnthropicError')
