/**
 * Lenient zod schemas for what the Anthropic Messages API sends back: only the fields the gateway reads are checked,
 * everything else passes (`z.looseObject`), so new fields and block types never break a response.
 * https://docs.claude.com/en/api/messages, https://docs.claude.com/en/docs/build-with-claude/streaming
 */
import { z } from 'zod'

export const anthropicUsageSchema = z.looseObject({
  input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
  cache_creation_input_tokens: z.number().nullish(),
  cache_read_input_tokens: z.number().nullish(),
  /** `cache_creation_input_tokens` by cache lifetime (`cache_control.ttl`: `5m`, the default, or `1h`). */
  cache_creation: z
    .looseObject({
      ephemeral_5m_input_tokens: z.number().nullish(),
      ephemeral_1h_input_tokens: z.number().nullish(),
    })
    .nullish(),
  output_tokens_details: z.looseObject({ thinking_tokens: z.number().nullish() }).nullish(),
})
export type AnthropicUsage = z.infer<typeof anthropicUsageSchema>

/** Any content block; the specific schemas below are applied per block so unknown types are skipped, not rejected. */
export const anthropicContentBlockSchema = z.looseObject({ type: z.string() })

export const anthropicTextBlockSchema = z.looseObject({ type: z.literal('text'), text: z.string() })
export const anthropicToolUseBlockSchema = z.looseObject({
  type: z.literal('tool_use'),
  id: z.string(),
  name: z.string(),
  input: z.unknown(),
})
export const anthropicThinkingBlockSchema = z.looseObject({
  type: z.literal('thinking'),
  thinking: z.string(),
  signature: z.string().nullish(),
})
export const anthropicRedactedThinkingBlockSchema = z.looseObject({
  type: z.literal('redacted_thinking'),
  data: z.string(),
})

export const anthropicMessageSchema = z.looseObject({
  id: z.string(),
  model: z.string(),
  content: z.array(anthropicContentBlockSchema),
  stop_reason: z.string().nullish(),
  usage: anthropicUsageSchema.nullish(),
})
export type AnthropicMessage = z.infer<typeof anthropicMessageSchema>

/** `{"type":"error","error":{"type","message"},"request_id"}`: https://docs.claude.com/en/api/errors */
export const anthropicErrorBodySchema = z.looseObject({
  error: z.looseObject({ type: z.string().nullish(), message: z.string().nullish() }),
})

export const anthropicMessageStartSchema = z.looseObject({
  message: z.looseObject({
    id: z.string(),
    model: z.string(),
    usage: anthropicUsageSchema.nullish(),
  }),
})

export const anthropicContentBlockStartSchema = z.looseObject({
  index: z.number(),
  content_block: anthropicContentBlockSchema,
})

export const anthropicContentBlockDeltaSchema = z.looseObject({
  index: z.number(),
  delta: z.looseObject({
    type: z.string(),
    text: z.string().nullish(),
    partial_json: z.string().nullish(),
    thinking: z.string().nullish(),
    signature: z.string().nullish(),
  }),
})

export const anthropicContentBlockStopSchema = z.looseObject({ index: z.number() })

export const anthropicMessageDeltaSchema = z.looseObject({
  delta: z.looseObject({ stop_reason: z.string().nullish() }).nullish(),
  usage: anthropicUsageSchema.nullish(),
})

/** `GET /v1/models`: https://docs.claude.com/en/api/models-list */
export const anthropicModelListSchema = z.looseObject({
  data: z.array(
    z.looseObject({
      id: z.string(),
      display_name: z.string().nullish(),
      created_at: z.string().nullish(),
    })
  ),
  has_more: z.boolean().nullish(),
  last_id: z.string().nullish(),
})
