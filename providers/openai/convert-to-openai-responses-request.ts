/**
 * Canonical chat request → OpenAI Responses API body (`POST /responses`), for a model OpenAI serves only through the
 * Responses API (its pro and Codex models), asked by a Chat Completions or Messages client.
 * https://platform.openai.com/docs/api-reference/responses/create (`CreateResponse` in openai-openapi.yaml)
 *
 * - A leading system message becomes `instructions`; any later one a `developer` message in place.
 * - User text and images become `input_text` / `input_image` parts (one text alone: a string).
 * - Assistant text becomes an assistant message (string content: an `output_text` part would need the item `id` and
 *   `status` the canonical request does not have); tool calls become `function_call` items (their `id` is the
 *   `call_id`), tool results `function_call_output` items (text, or parts when they hold an image).
 * - Reasoning parts are dropped: OpenAI replays only its own reasoning items, which a canonical request never holds.
 * - `reasoning.effort` (as `convertToOpenAIReasoningEffort` gives it), `max_output_tokens`, `temperature`, `top_p`,
 *   `text.format`, function tools, `tool_choice`, `parallel_tool_calls`
 *   as the client set them; the end user as `safety_identifier` (at most 64 characters), else the older `user`, or
 *   both as the client sent them; `prompt_cache_key`, `service_tier` and the verbosity (`text.verbosity`) as given.
 * - `store: false`: the gateway does not chain these responses, so OpenAI need not keep them.
 *
 * `topK` has no Responses field and is a sampling hint: dropped. Stop sequences have none either and change the
 * answer: refused (`unsupported`, 400).
 */
import type {
  ChatMessage,
  ChatRequest,
  ImagePart,
  ResponseFormat,
  TextPart,
  ToolChoice,
  ReasoningEffort,
} from '../spec/chat-types.ts'
import { ProviderError } from '../spec/provider-error.ts'

type Json = Record<string, unknown>

/** `safety_identifier`'s limit in the API; a longer id goes as the deprecated, unbounded `user`. */
const safetyIdentifierMaxLength = 64

const imageUrl = (part: ImagePart): string =>
  part.source.type === 'url'
    ? part.source.url
    : `data:${part.source.mediaType};base64,${part.source.data}`

const inputPart = (part: TextPart | ImagePart): Json =>
  part.type === 'text'
    ? { type: 'input_text', text: part.text }
    : { type: 'input_image', image_url: imageUrl(part), detail: 'auto' }

const userContent = (parts: Array<TextPart | ImagePart>): string | Json[] =>
  parts.length === 1 && parts[0].type === 'text' ? parts[0].text : parts.map(inputPart)

const toolOutput = (parts: Array<TextPart | ImagePart>): string | Json[] =>
  parts.some((part) => part.type === 'image')
    ? parts.map(inputPart)
    : parts.map((part) => (part.type === 'text' ? part.text : '')).join('')

/** Appends the items of one message. */
const convertMessage = (message: ChatMessage, items: Json[]): void => {
  switch (message.role) {
    case 'system':
      items.push({ type: 'message', role: 'developer', content: message.content })
      return
    case 'user':
      items.push({ type: 'message', role: 'user', content: userContent(message.content) })
      return
    case 'assistant': {
      // Text and calls keep their order; consecutive text parts are one message.
      let text: string | null = null
      const flush = () => {
        if (text !== null && text !== '')
          items.push({ type: 'message', role: 'assistant', content: text })
        text = null
      }
      for (const part of message.content) {
        if (part.type === 'text') text = (text ?? '') + part.text
        else if (part.type === 'tool-call') {
          flush()
          items.push({
            type: 'function_call',
            call_id: part.id,
            name: part.name,
            arguments: part.arguments,
          })
        }
      }
      flush()
      return
    }
    case 'tool':
      items.push({
        type: 'function_call_output',
        call_id: message.toolCallId,
        output: toolOutput(message.content),
      })
  }
}

const convertToolChoice = (choice: ToolChoice): unknown =>
  choice.type === 'tool' ? { type: 'function', name: choice.name } : choice.type

const convertFormat = (format: ResponseFormat): Json => {
  if (format.type !== 'json_schema') return { type: format.type }
  const out: Json = { type: 'json_schema', name: format.name, schema: format.schema }
  if (format.description !== undefined) out.description = format.description
  if (format.strict !== undefined) out.strict = format.strict
  return out
}

/** Builds the body without `stream` (the caller decides it). Only fields the client set are sent. */
/** `reasoningEffort`: what the model takes of the client's reasoning (`convertToOpenAIReasoningEffort`). */
export const convertToOpenAIResponsesRequest = (
  request: ChatRequest,
  reasoningEffort?: ReasoningEffort
): Json => {
  if (request.stop !== undefined && request.stop.length > 0) {
    throw new ProviderError({
      kind: 'unsupported',
      status: 400,
      message: `The model \`${request.model}\` is served through OpenAI's Responses API, which has no stop sequences.`,
      param: 'stop',
    })
  }
  const body: Json = { model: request.model }
  const [first, ...rest] = request.messages
  const conversation = first?.role === 'system' ? rest : request.messages
  if (first?.role === 'system') body.instructions = first.content
  const input: Json[] = []
  for (const message of conversation) convertMessage(message, input)
  body.input = input
  if (request.tools !== undefined) {
    body.tools = request.tools.map((tool) => {
      const definition: Json = { type: 'function', name: tool.name }
      if (tool.description !== undefined) definition.description = tool.description
      definition.parameters = tool.parameters
      // The Responses API makes function tools strict by default; Chat Completions did not.
      definition.strict = tool.strict ?? false
      return definition
    })
  }
  if (request.toolChoice !== undefined) body.tool_choice = convertToolChoice(request.toolChoice)
  if (request.parallelToolCalls !== undefined) body.parallel_tool_calls = request.parallelToolCalls
  if (request.maxTokens !== undefined) body.max_output_tokens = request.maxTokens
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.responseFormat !== undefined)
    body.text = { format: convertFormat(request.responseFormat) }
  if (request.safetyIdentifier !== undefined) {
    body.safety_identifier = request.safetyIdentifier
    if (request.user !== undefined) body.user = request.user
  } else if (request.user !== undefined) {
    if (request.user.length <= safetyIdentifierMaxLength) body.safety_identifier = request.user
    else body.user = request.user
  }
  if (request.promptCacheKey !== undefined) body.prompt_cache_key = request.promptCacheKey
  if (request.serviceTier !== undefined) body.service_tier = request.serviceTier
  if (request.verbosity !== undefined)
    body.text = { ...(body.text as Json | undefined), verbosity: request.verbosity }
  if (reasoningEffort !== undefined) body.reasoning = { effort: reasoningEffort }
  body.store = false
  return body
}
