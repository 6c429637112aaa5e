/**
 * The inbound Responses API request. Forwarded to OpenAI as it is, so it must not be stricter than OpenAI: only what
 * the gateway reads is checked (`model` to route on, `stream` for the framing, `input` as a string or a list of
 * objects); every other field is described for /openapi.json and judged upstream, or by `convertResponsesRequest`
 * for another provider. Like the chat schemas, it never adds or changes a value (no defaults, no transforms).
 * https://platform.openai.com/docs/api-reference/responses/create
 */
import { z } from '@hono/zod-openapi'
import { validatedSynchronously } from '../validated-synchronously.ts'
import { upstreamJudged } from '../upstream-judged.ts'

export const createResponseRequestSchema = validatedSynchronously(
  z
    .looseObject({
      model: z.string().min(1),
      input: z
        .union([
          z.string(),
          z.array(
            z.looseObject({}).openapi({
              description:
                'An input item: a message (`role` and `content`), `function_call`, `function_call_output`, `reasoning` or `item_reference`',
            })
          ),
        ])
        .optional(),
      stream: z.boolean().nullable().optional(),
      instructions: upstreamJudged(z.string().nullable()),
      tools: upstreamJudged(z.array(z.looseObject({ type: z.string() }))),
      tool_choice: upstreamJudged(z.union([z.string(), z.looseObject({ type: z.string() })])),
      parallel_tool_calls: upstreamJudged(z.boolean().nullable()),
      text: upstreamJudged(
        z.looseObject({ format: z.looseObject({ type: z.string() }).optional() })
      ),
      max_output_tokens: upstreamJudged(z.number().int().nullable()),
      temperature: upstreamJudged(z.number().nullable()),
      top_p: upstreamJudged(z.number().nullable()),
      metadata: upstreamJudged(z.record(z.string(), z.string()).nullable()),
      user: upstreamJudged(z.string()),
      store: upstreamJudged(z.boolean().nullable()),
      previous_response_id: upstreamJudged(z.string().nullable()),
      reasoning: upstreamJudged(z.looseObject({}).nullable()),
      include: upstreamJudged(z.array(z.string()).nullable()),
    })
    .openapi('CreateResponse')
)

/** The answer's shape, for the OpenAPI document only (answers are not validated at run time). */
export const responseObjectSchema = z
  .looseObject({
    id: z.string(),
    object: z.enum(['response']),
    created_at: z.number(),
    status: z.string(),
    model: z.string(),
    output: z.array(z.looseObject({ type: z.string() })),
    usage: z
      .looseObject({
        input_tokens: z.number(),
        output_tokens: z.number(),
        total_tokens: z.number(),
      })
      .nullable()
      .optional(),
  })
  .openapi('Response', {
    description:
      'A model response; with `stream: true`, a `text/event-stream` of typed events (`response.created` … `response.completed`), each with a `sequence_number`.',
  })
