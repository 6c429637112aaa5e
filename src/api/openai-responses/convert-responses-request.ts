/**
 * A Responses API request → the canonical request, for a Responses client routed to a provider without the Responses
 * API (Anthropic, a Chat-Completions-only server, the local model).
 * https://platform.openai.com/docs/api-reference/responses/create
 *
 * - `instructions` become the first system message; `developer` and `system` messages become system messages in
 *   place.
 * - `input` is a string (one user message) or items: messages (with or without `type: "message"`) of `input_text`,
 *   `input_image`, `output_text` and `refusal` parts; `function_call` and `function_call_output`; `reasoning` items,
 *   kept as reasoning when they carry what the upstream needs to be given its own reasoning back (a signature the
 *   gateway encoded, `reasoning-content.ts`), dropped otherwise, without error (another model's reasoning is of no
 *   use to this one). Consecutive assistant output (reasoning, text, function calls) is one assistant turn.
 * - Built-in tools' calls from earlier OpenAI turns (`web_search_call`...) are history only OpenAI can replay: dropped.
 * - `tools`, `tool_choice`, `parallel_tool_calls`, `text.format`, `max_output_tokens`, `temperature`, `top_p`, `user`
 *   / `safety_identifier`, `reasoning.effort` map to their canonical fields (`responses-tools.ts` for the tools).
 *
 * What would change the answer and cannot be converted is a 400 naming the field: `background`, `conversation`,
 * `previous_response_id` and `item_reference` (they need a stored response), file inputs, a hosted `tool_choice`,
 * log probabilities (`top_logprobs` above 0, `include: ["message.output_text.logprobs"]`), `max_tool_calls`, and a
 * `max_output_tokens` that is not a number. `top_logprobs: 0` (none, the value every Response echoes) is no request
 * for log probabilities and passes. `user`, `safety_identifier`, `prompt_cache_key`, `service_tier` and
 * `text.verbosity` go to an upstream that takes them (Chat Completions does, `read-openai-settings.ts`), and are named
 * in `x-gatehouse-omitted-params` by one that does not (Anthropic and the local model take the end user only). Settings
 * with no canonical counterpart (`reasoning.summary`, the rest of `include`, `store`, `truncation`, `metadata`) do not
 * change what the upstream is asked and are not sent.
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
} from '../../../providers/spec/chat-types.ts'
import { invalidRequest } from '../../core/errors.ts'
import { readImageUrl } from '../read-image-url.ts'
import { decodeReasoningContent } from './reasoning-content.ts'
import { convertResponsesTools, flattenToolName } from './responses-tools.ts'
import { isJsonObject } from '../is-json-object.ts'
import { openAIReasoningEfforts, readReasoningEffort } from '../read-reasoning-effort.ts'
import { readOpenAISettings } from '../read-openai-settings.ts'

type Json = Record<string, unknown>

const present = (value: unknown): boolean => value !== undefined && value !== null

/** Built-in tools' call and output items: only OpenAI, which ran them, can replay them. */
const builtInItems = new Set([
  'web_search_call',
  'file_search_call',
  'computer_call',
  'computer_call_output',
  'code_interpreter_call',
  'image_generation_call',
  'local_shell_call',
  'local_shell_call_output',
  'shell_call',
  'shell_call_output',
  'mcp_call',
  'mcp_list_tools',
  'mcp_approval_request',
  'mcp_approval_response',
  'custom_tool_call',
  'custom_tool_call_output',
  'tool_search_call',
  'tool_search_output',
  'apply_patch_call',
  'apply_patch_call_output',
  'compaction',
])

const convertImage = (part: Json, param: string): ImagePart => {
  if (present(part.file_id))
    throw invalidRequest(
      'Images by `file_id` are not supported by the provider serving this model; send `image_url`.',
      `${param}.file_id`
    )
  return readImageUrl(part.image_url, `${param}.image_url`, 'image_url')
}

const partsOf = (content: unknown, param: string): unknown[] => {
  if (typeof content === 'string') return [{ type: 'input_text', text: content }]
  if (Array.isArray(content)) return content
  throw invalidRequest('`content` must be a string or an array of content parts.', param)
}

const textPart = (part: unknown, param: string): string => {
  if (isJsonObject(part)) {
    if (
      (part.type === 'input_text' || part.type === 'output_text') &&
      typeof part.text === 'string'
    )
      return part.text
    if (part.type === 'refusal' && typeof part.refusal === 'string') return part.refusal
  }
  throw invalidRequest('Only text content parts are allowed here.', `${param}.type`)
}

const userPart = (part: unknown, param: string): TextPart | ImagePart => {
  if (!isJsonObject(part)) throw invalidRequest('Content parts must be objects.', param)
  if (part.type === 'input_image') return convertImage(part, param)
  if (part.type === 'input_file')
    throw invalidRequest(
      'File inputs are not supported by the provider serving this model.',
      `${param}.type`
    )
  if (part.type === 'input_audio')
    throw invalidRequest(
      'Audio input is not supported by the provider serving this model.',
      `${param}.type`
    )
  return { type: 'text', text: textPart(part, param) }
}

const checkedArguments = (value: unknown, param: string): string => {
  // A call without arguments (some Chat Completions servers send none) takes an empty object.
  if (value === '') return '{}'
  if (typeof value !== 'string')
    throw invalidRequest('`arguments` must be a JSON string.', `${param}.arguments`)
  try {
    JSON.parse(value)
  } catch {
    throw invalidRequest('`arguments` is not valid JSON.', `${param}.arguments`)
  }
  return value
}

const reasoningPart = (item: Json): ReasoningPart | null => {
  const carried =
    typeof item.encrypted_content === 'string'
      ? decodeReasoningContent(item.encrypted_content)
      : null
  if (carried === null) return null
  const text = Array.isArray(item.summary)
    ? item.summary
        .map((part) => (isJsonObject(part) && typeof part.text === 'string' ? part.text : ''))
        .join('')
    : ''
  const part: ReasoningPart = { type: 'reasoning', text }
  if (carried.signature !== undefined) part.signature = carried.signature
  if (carried.redactedData !== undefined) part.redactedData = carried.redactedData
  return part
}

/** Folds the items into messages; assistant output accumulates until something else comes. */
const convertInput = (input: unknown, messages: ChatMessage[]): void => {
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: [{ type: 'text', text: input }] })
    return
  }
  if (!present(input)) return
  if (!Array.isArray(input))
    throw invalidRequest('`input` must be a string or an array of items.', 'input')
  let assistant: Extract<ChatMessage, { role: 'assistant' }> | null = null
  const assistantTurn = (): Extract<ChatMessage, { role: 'assistant' }> => {
    if (assistant === null) {
      assistant = { role: 'assistant', content: [] }
      messages.push(assistant)
    }
    return assistant
  }
  for (const [index, item] of input.entries()) {
    const param = `input.${index}`
    if (!isJsonObject(item)) throw invalidRequest('Each input item must be an object.', param)
    const type = item.type ?? (present(item.role) ? 'message' : undefined)
    switch (type) {
      case 'message': {
        const role = item.role
        if (role === 'assistant') {
          const turn = assistantTurn()
          for (const [position, part] of partsOf(item.content, `${param}.content`).entries()) {
            const text = textPart(part, `${param}.content.${position}`)
            if (text !== '') turn.content.push({ type: 'text', text })
          }
          continue
        }
        assistant = null
        if (role === 'system' || role === 'developer') {
          messages.push({
            role: 'system',
            content: partsOf(item.content, `${param}.content`)
              .map((part, position) => textPart(part, `${param}.content.${position}`))
              .join('\n'),
          })
        } else if (role === 'user') {
          messages.push({
            role: 'user',
            content: partsOf(item.content, `${param}.content`).map((part, position) =>
              userPart(part, `${param}.content.${position}`)
            ),
          })
        } else {
          throw invalidRequest(
            `Message role \`${String(role)}\` is not supported by the provider serving this model.`,
            `${param}.role`
          )
        }
        continue
      }
      case 'function_call': {
        if (typeof item.call_id !== 'string')
          throw invalidRequest('A function call needs a `call_id`.', `${param}.call_id`)
        if (typeof item.name !== 'string')
          throw invalidRequest('A function call needs a `name`.', `${param}.name`)
        const namespace = typeof item.namespace === 'string' ? item.namespace : undefined
        const call: ToolCallPart = {
          type: 'tool-call',
          id: item.call_id,
          name: flattenToolName(namespace, item.name),
          arguments: checkedArguments(item.arguments, param),
        }
        assistantTurn().content.push(call)
        continue
      }
      case 'function_call_output': {
        assistant = null
        if (typeof item.call_id !== 'string')
          throw invalidRequest('A function call output needs a `call_id`.', `${param}.call_id`)
        messages.push({
          role: 'tool',
          toolCallId: item.call_id,
          content: partsOf(item.output, `${param}.output`).map((part, position) =>
            userPart(part, `${param}.output.${position}`)
          ),
        })
        continue
      }
      case 'reasoning': {
        const part = reasoningPart(item)
        if (part !== null) assistantTurn().content.push(part)
        continue
      }
      case 'item_reference':
        throw invalidRequest(
          '`item_reference` needs a stored response, which the provider serving this model does not keep; send the item itself.',
          `${param}.id`
        )
      default:
        if (typeof type === 'string' && builtInItems.has(type)) continue
        throw invalidRequest(`Unknown input item type \`${String(type)}\`.`, `${param}.type`)
    }
  }
}

const convertToolChoice = (choice: unknown): ToolChoice => {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return { type: choice }
  if (isJsonObject(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    const namespace = typeof choice.namespace === 'string' ? choice.namespace : undefined
    return { type: 'tool', name: flattenToolName(namespace, choice.name) }
  }
  throw invalidRequest(
    'This `tool_choice` is not supported by the provider serving this model.',
    'tool_choice'
  )
}

const convertFormat = (text: unknown): ResponseFormat | undefined => {
  if (!present(text)) return undefined
  if (!isJsonObject(text)) throw invalidRequest('`text` must be an object.', 'text')
  const format = text.format
  if (!present(format)) return undefined
  if (!isJsonObject(format)) throw invalidRequest('`text.format` must be an object.', 'text.format')
  if (format.type === 'text' || format.type === 'json_object') return { type: format.type }
  if (format.type !== 'json_schema')
    throw invalidRequest(`Unknown text format \`${String(format.type)}\`.`, 'text.format.type')
  if (typeof format.name !== 'string')
    throw invalidRequest('`text.format.name` is required.', 'text.format.name')
  if (!isJsonObject(format.schema))
    throw invalidRequest('`text.format.schema` is required.', 'text.format.schema')
  const out: ResponseFormat = { type: 'json_schema', name: format.name, schema: format.schema }
  if (typeof format.strict === 'boolean') out.strict = format.strict
  if (typeof format.description === 'string') out.description = format.description
  return out
}

const rejectUnconvertible = (body: Json): void => {
  if (body.background === true)
    throw invalidRequest(
      'Background responses are only available from OpenAI; the provider serving this model answers in the foreground.',
      'background'
    )
  if (present(body.conversation))
    throw invalidRequest(
      'Conversations are only available from OpenAI, not from the provider serving this model.',
      'conversation'
    )
  if (present(body.previous_response_id))
    throw invalidRequest(
      '`previous_response_id` needs a stored response, which the provider serving this model does not keep; send the whole conversation as `input`.',
      'previous_response_id'
    )
  if (present(body.prompt))
    throw invalidRequest(
      'Prompt templates are only available from OpenAI, not from the provider serving this model.',
      'prompt'
    )
  // `top_logprobs: 0` asks for no log probabilities: it is the API's default and what every Response echoes (the
  // gateway's own included, convert-to-responses-response.ts), so a client replaying a response's settings sends it.
  // Above 0 would need log probabilities in the answer, which the canonical result does not carry (the converted
  // answer's text parts always say `logprobs: []`), so it stays a 400 rather than an answer without what was asked.
  // Range 0–20, null allowed: `ModelResponseProperties.top_logprobs`, shared/specs/openai-openapi.yaml.
  if (present(body.top_logprobs) && body.top_logprobs !== 0)
    throw invalidRequest(
      'Log probabilities are not supported by the provider serving this model.',
      'top_logprobs'
    )
  if (Array.isArray(body.include) && body.include.includes('message.output_text.logprobs'))
    throw invalidRequest(
      'Log probabilities (`message.output_text.logprobs`) are not supported by the provider serving this model.',
      'include'
    )
  if (present(body.max_tool_calls))
    throw invalidRequest(
      '`max_tool_calls` is not supported by the provider serving this model.',
      'max_tool_calls'
    )
}

const reasoningOf = (reasoning: unknown): ChatRequest['reasoning'] => {
  if (!present(reasoning)) return undefined
  if (!isJsonObject(reasoning)) throw invalidRequest('`reasoning` must be an object.', 'reasoning')
  const effort = readReasoningEffort(reasoning.effort, {
    param: 'reasoning.effort',
    allowed: openAIReasoningEfforts,
  })
  return effort === undefined ? undefined : { effort }
}

export const convertResponsesRequest = (body: Json, model: string): ChatRequest => {
  rejectUnconvertible(body)
  const messages: ChatMessage[] = []
  if (typeof body.instructions === 'string' && body.instructions !== '')
    messages.push({ role: 'system', content: body.instructions })
  else if (Array.isArray(body.instructions)) convertInput(body.instructions, messages)
  convertInput(body.input, messages)
  if (messages.length === 0) throw invalidRequest('`input` is required.', 'input')
  const request: ChatRequest = { model, messages, stream: body.stream === true }
  const tools = convertResponsesTools(body.tools)
  if (tools.tools.length > 0) request.tools = tools.tools
  if (present(body.tool_choice)) request.toolChoice = convertToolChoice(body.tool_choice)
  if (typeof body.parallel_tool_calls === 'boolean')
    request.parallelToolCalls = body.parallel_tool_calls
  if (typeof body.max_output_tokens === 'number') request.maxTokens = body.max_output_tokens
  else if (present(body.max_output_tokens))
    throw invalidRequest('`max_output_tokens` must be a number.', 'max_output_tokens')
  if (typeof body.temperature === 'number') request.temperature = body.temperature
  if (typeof body.top_p === 'number') request.topP = body.top_p
  const format = convertFormat(body.text)
  if (format !== undefined) request.responseFormat = format
  readOpenAISettings(body, request, isJsonObject(body.text) ? body.text.verbosity : undefined)
  const reasoning = reasoningOf(body.reasoning)
  if (reasoning !== undefined) request.reasoning = reasoning
  // The Responses API always reports usage, streamed or not.
  if (request.stream) request.includeUsage = true
  return request
}
