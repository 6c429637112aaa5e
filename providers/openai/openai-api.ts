/**
 * Lenient wire schemas for what we read back from OpenAI and OpenAI-compatible servers: only the fields we use are
 * checked, everything else passes (`z.looseObject`), and fields compatible servers leave out are optional.
 * https://platform.openai.com/docs/api-reference/chat/object, .../chat-streaming/streaming, .../models/list
 */
import { z } from 'zod'

const toolCallSchema = z.looseObject({
  index: z.number().optional(),
  id: z.string().nullish(),
  type: z.string().nullish(),
  function: z
    .looseObject({
      name: z.string().nullish(),
      /** A JSON string on the wire; a few compatible servers send the object itself. */
      arguments: z.unknown().optional(),
    })
    .nullish(),
})

/** A message or a streamed delta: the same fields, all optional in a delta. */
const messageSchema = z.looseObject({
  role: z.string().nullish(),
  content: z.string().nullish(),
  refusal: z.string().nullish(),
  /** vLLM / DeepSeek reasoning parsers (`reasoning_content`) and OpenRouter / newer vLLM (`reasoning`). */
  reasoning_content: z.unknown().optional(),
  reasoning: z.unknown().optional(),
  tool_calls: z.array(toolCallSchema).nullish(),
})

export const openAIChatCompletionSchema = z.looseObject({
  id: z.string().nullish(),
  created: z.number().nullish(),
  model: z.string().nullish(),
  choices: z.array(
    z.looseObject({
      index: z.number().optional(),
      message: messageSchema,
      finish_reason: z.string().nullish(),
    })
  ),
  usage: z.unknown().optional(),
})
export type OpenAIChatCompletion = z.infer<typeof openAIChatCompletionSchema>
export type OpenAIMessage = z.infer<typeof messageSchema>
export type OpenAIToolCall = z.infer<typeof toolCallSchema>

export const openAIChatChunkSchema = z.looseObject({
  id: z.string().nullish(),
  created: z.number().nullish(),
  model: z.string().nullish(),
  choices: z
    .array(
      z.looseObject({
        index: z.number().optional(),
        delta: messageSchema.nullish(),
        finish_reason: z.string().nullish(),
      })
    )
    .nullish(),
  usage: z.unknown().optional(),
})
export type OpenAIChatChunk = z.infer<typeof openAIChatChunkSchema>

export const openAIModelListSchema = z.looseObject({
  data: z.array(
    z.looseObject({
      id: z.string(),
      created: z.number().nullish(),
      owned_by: z.string().nullish(),
    })
  ),
})
