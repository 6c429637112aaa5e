/**
 * An OpenAI Chat Completions request → the canonical request, for an OpenAI client routed to a provider of another
 * dialect (Anthropic, the local model). https://platform.openai.com/docs/api-reference/chat/create
 *
 * What cannot be converted without changing the answer is a 400 naming the field (wire-notes §4.4): `n > 1`,
 * `logprobs`, audio, `allowed_tools`, non-function tools, tool arguments that are not JSON, image types the
 * other side does not take; so is a `max_tokens` / `max_completion_tokens` that is not a number, or a `stop` that is
 * not strings. `reasoning_effort` becomes the canonical `reasoning.effort` (the target's converter decides how it
 * goes upstream, or names it in `x-gatehouse-omitted-params`). Pure sampling hints without a canonical field
 * (penalties, `logit_bias`) are ignored; nothing is clamped or defaulted. `seed` and `top_k` (not OpenAI's, but what
 * OpenAI-compatible servers such as vLLM accept) are carried: the local model honours both, Anthropic takes `top_k`.
 */
import type {
  ChatMessage,
  ChatRequest,
  ImagePart,
  ReasoningPart,
  ResponseFormat,
  TextPart,
  ToolCallPart,
  ToolChoice,
  ToolDefinition,
} from '../../../providers/spec/chat-types.ts'
import { invalidRequest } from '../../core/errors.ts'
import { readImageUrl } from '../read-image-url.ts'
import { isJsonObject } from '../is-json-object.ts'
import { openAIReasoningEfforts, readReasoningEffort } from '../read-reasoning-effort.ts'
import { readOpenAISettings } from '../read-openai-settings.ts'

type Json = Record<string, unknown>

const present = (value: unknown): boolean => value !== undefined && value !== null

const partsOf = (content: unknown, param: string): unknown[] => {
  if (typeof content === 'string') return [{ type: 'text', text: content }]
  if (Array.isArray(content)) return content
  throw invalidRequest('`content` must be a string or an array of content parts.', param)
}

const textOf = (part: unknown, param: string): string => {
  if (isJsonObject(part) && part.type === 'text' && typeof part.text === 'string') return part.text
  throw invalidRequest('Only text content parts are allowed here.', param)
}

const convertImage = (part: Json, param: string): ImagePart =>
  readImageUrl(
    isJsonObject(part.image_url) ? part.image_url.url : undefined,
    `${param}.image_url.url`,
    'image_url.url'
  )

const convertUserPart = (part: unknown, param: string): TextPart | ImagePart => {
  if (!isJsonObject(part)) throw invalidRequest('Content parts must be objects.', param)
  switch (part.type) {
    case 'text':
      return { type: 'text', text: textOf(part, param) }
    case 'image_url':
      return convertImage(part, param)
    case 'input_audio':
      throw invalidRequest(
        'Audio input is not supported by the provider serving this model.',
        `${param}.type`
      )
    default:
      throw invalidRequest(
        `Content part type \`${String(part.type)}\` is not supported by the provider serving this model.`,
        `${param}.type`
      )
  }
}

const convertToolCall = (call: unknown, param: string): ToolCallPart => {
  if (!isJsonObject(call) || call.type !== 'function' || !isJsonObject(call.function)) {
    throw invalidRequest(
      'Only `function` tool calls can be sent to the provider serving this model.',
      `${param}.type`
    )
  }
  const { name, arguments: args } = call.function
  if (typeof call.id !== 'string') throw invalidRequest('A tool call needs an `id`.', `${param}.id`)
  if (typeof name !== 'string')
    throw invalidRequest('A tool call needs a `function.name`.', `${param}.function.name`)
  if (typeof args !== 'string')
    throw invalidRequest(
      '`function.arguments` must be a JSON string.',
      `${param}.function.arguments`
    )
  // A call without arguments (some OpenAI-compatible servers send `""`) takes an empty object, as on the Responses path.
  if (args === '') return { type: 'tool-call', id: call.id, name, arguments: '{}' }
  try {
    JSON.parse(args)
  } catch {
    throw invalidRequest('`function.arguments` is not valid JSON.', `${param}.function.arguments`)
  }
  return { type: 'tool-call', id: call.id, name, arguments: args }
}

const convertAssistant = (message: Json, param: string): ChatMessage => {
  if (present(message.audio))
    throw invalidRequest(
      'Audio is not supported by the provider serving this model.',
      `${param}.audio`
    )
  if (present(message.function_call)) {
    throw invalidRequest(
      'The deprecated `function_call` is not supported here; use `tool_calls`.',
      `${param}.function_call`
    )
  }
  const content: Array<TextPart | ToolCallPart | ReasoningPart> = []
  if (present(message.content)) {
    for (const [index, part] of partsOf(message.content, `${param}.content`).entries()) {
      const partParam = `${param}.content.${index}`
      const text =
        isJsonObject(part) && part.type === 'refusal' && typeof part.refusal === 'string'
          ? part.refusal
          : textOf(part, partParam)
      // Clients often send `content: ""` beside `tool_calls`; an empty text block means nothing and Anthropic rejects it.
      if (text !== '') content.push({ type: 'text', text })
    }
  }
  if (present(message.tool_calls)) {
    if (!Array.isArray(message.tool_calls))
      throw invalidRequest('`tool_calls` must be an array.', `${param}.tool_calls`)
    for (const [index, call] of message.tool_calls.entries())
      content.push(convertToolCall(call, `${param}.tool_calls.${index}`))
  }
  return { role: 'assistant', content }
}

/**
 * A message whose content is a string, nearly every one, converts without the content-part walk and the `param` names
 * it makes for errors that a string cannot have: a tenant key's every request converts its body for the token
 * estimate, passthrough or not.
 */
const convertMessage = (message: unknown, index: number): ChatMessage => {
  if (!isJsonObject(message))
    throw invalidRequest('Each message must be an object.', `messages.${index}`)
  const text = message.content
  if (typeof text === 'string') {
    if (message.role === 'user') return { role: 'user', content: [{ type: 'text', text }] }
    if (message.role === 'system' || message.role === 'developer')
      return { role: 'system', content: text }
    if (message.role === 'tool' && typeof message.tool_call_id === 'string')
      return { role: 'tool', toolCallId: message.tool_call_id, content: [{ type: 'text', text }] }
  }
  const param = `messages.${index}`
  switch (message.role) {
    case 'system':
    case 'developer':
      return {
        role: 'system',
        content: partsOf(message.content, `${param}.content`)
          .map((part, position) => textOf(part, `${param}.content.${position}`))
          .join('\n'),
      }
    case 'user':
      return {
        role: 'user',
        content: partsOf(message.content, `${param}.content`).map((part, position) =>
          convertUserPart(part, `${param}.content.${position}`)
        ),
      }
    case 'assistant':
      return convertAssistant(message, param)
    case 'tool':
      if (typeof message.tool_call_id !== 'string')
        throw invalidRequest('A tool message needs a `tool_call_id`.', `${param}.tool_call_id`)
      return {
        role: 'tool',
        toolCallId: message.tool_call_id,
        content: partsOf(message.content, `${param}.content`).map((part, position) => ({
          type: 'text',
          text: textOf(part, `${param}.content.${position}`),
        })),
      }
    default:
      throw invalidRequest(
        `Message role \`${String(message.role)}\` is not supported by the provider serving this model.`,
        `${param}.role`
      )
  }
}

const convertTool = (tool: unknown, index: number): ToolDefinition => {
  const param = `tools.${index}`
  if (!isJsonObject(tool) || tool.type !== 'function' || !isJsonObject(tool.function)) {
    throw invalidRequest(
      'Only `function` tools can be sent to the provider serving this model.',
      `${param}.type`
    )
  }
  const fn = tool.function
  if (typeof fn.name !== 'string')
    throw invalidRequest('A function tool needs a `name`.', `${param}.function.name`)
  if (present(fn.parameters) && !isJsonObject(fn.parameters)) {
    throw invalidRequest(
      '`parameters` must be a JSON Schema object.',
      `${param}.function.parameters`
    )
  }
  // OpenAI reads a function without `parameters` as one that takes no arguments: the same meaning, spelled out.
  const definition: ToolDefinition = {
    name: fn.name,
    parameters: isJsonObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
  }
  if (typeof fn.description === 'string') definition.description = fn.description
  if (typeof fn.strict === 'boolean') definition.strict = fn.strict
  return definition
}

const convertToolChoice = (choice: unknown): ToolChoice => {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return { type: choice }
  if (
    isJsonObject(choice) &&
    choice.type === 'function' &&
    isJsonObject(choice.function) &&
    typeof choice.function.name === 'string'
  ) {
    return { type: 'tool', name: choice.function.name }
  }
  if (isJsonObject(choice) && choice.type === 'allowed_tools') {
    throw invalidRequest(
      '`allowed_tools` is not supported by the provider serving this model.',
      'tool_choice'
    )
  }
  throw invalidRequest(
    'This `tool_choice` is not supported by the provider serving this model.',
    'tool_choice'
  )
}

const convertResponseFormat = (format: unknown): ResponseFormat => {
  if (!isJsonObject(format))
    throw invalidRequest('`response_format` must be an object.', 'response_format')
  if (format.type === 'text' || format.type === 'json_object') return { type: format.type }
  if (format.type !== 'json_schema')
    throw invalidRequest(
      `Unknown response format \`${String(format.type)}\`.`,
      'response_format.type'
    )
  const schema = format.json_schema
  if (!isJsonObject(schema) || typeof schema.name !== 'string') {
    throw invalidRequest('`json_schema.name` is required.', 'response_format.json_schema.name')
  }
  if (!isJsonObject(schema.schema)) {
    throw invalidRequest(
      '`json_schema.schema` is required for the provider serving this model.',
      'response_format.json_schema.schema'
    )
  }
  const out: ResponseFormat = { type: 'json_schema', name: schema.name, schema: schema.schema }
  if (typeof schema.strict === 'boolean') out.strict = schema.strict
  if (typeof schema.description === 'string') out.description = schema.description
  return out
}

const rejectUnconvertible = (body: Json): void => {
  if (typeof body.n === 'number' && body.n > 1)
    throw invalidRequest(
      '`n` greater than 1 is not supported by the provider serving this model.',
      'n'
    )
  if (body.logprobs === true)
    throw invalidRequest(
      '`logprobs` is not supported by the provider serving this model.',
      'logprobs'
    )
  if (present(body.audio))
    throw invalidRequest(
      'Audio output is not supported by the provider serving this model.',
      'audio'
    )
  if (Array.isArray(body.modalities) && body.modalities.includes('audio')) {
    throw invalidRequest(
      'Audio output is not supported by the provider serving this model.',
      'modalities'
    )
  }
  if (present(body.functions) || present(body.function_call)) {
    throw invalidRequest(
      'The deprecated `functions` parameter is not supported here; use `tools`.',
      present(body.functions) ? 'functions' : 'function_call'
    )
  }
}

export const convertOpenAIRequest = (body: Record<string, unknown>, model: string): ChatRequest => {
  rejectUnconvertible(body)
  if (!Array.isArray(body.messages))
    throw invalidRequest('`messages` must be an array.', 'messages')
  const request: ChatRequest = {
    model,
    messages: body.messages.map(convertMessage),
    stream: body.stream === true,
  }
  if (Array.isArray(body.tools)) request.tools = body.tools.map(convertTool)
  if (present(body.tool_choice)) request.toolChoice = convertToolChoice(body.tool_choice)
  if (typeof body.parallel_tool_calls === 'boolean')
    request.parallelToolCalls = body.parallel_tool_calls
  const maxTokensField = present(body.max_completion_tokens)
    ? 'max_completion_tokens'
    : 'max_tokens'
  const maxTokens = body[maxTokensField]
  if (typeof maxTokens === 'number') request.maxTokens = maxTokens
  else if (present(maxTokens))
    throw invalidRequest(`\`${maxTokensField}\` must be a number.`, maxTokensField)
  if (typeof body.temperature === 'number') request.temperature = body.temperature
  if (typeof body.top_p === 'number') request.topP = body.top_p
  if (typeof body.top_k === 'number') request.topK = body.top_k
  if (typeof body.seed === 'number') request.seed = body.seed
  if (typeof body.stop === 'string') request.stop = [body.stop]
  else if (Array.isArray(body.stop) && body.stop.every((stop) => typeof stop === 'string'))
    request.stop = body.stop as string[]
  else if (present(body.stop))
    throw invalidRequest('`stop` must be a string or an array of strings.', 'stop')
  if (present(body.response_format))
    request.responseFormat = convertResponseFormat(body.response_format)
  readOpenAISettings(body, request, body.verbosity)
  const effort = readReasoningEffort(body.reasoning_effort, {
    param: 'reasoning_effort',
    allowed: openAIReasoningEfforts,
  })
  if (effort !== undefined) request.reasoning = { effort }
  const streamOptions = body.stream_options
  if (isJsonObject(streamOptions) && typeof streamOptions.include_usage === 'boolean')
    request.includeUsage = streamOptions.include_usage
  return request
}
