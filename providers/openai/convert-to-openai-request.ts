/**
 * Canonical chat request → OpenAI Chat Completions body, for clients of another dialect (Anthropic) routed to an
 * OpenAI or OpenAI-compatible upstream. https://platform.openai.com/docs/api-reference/chat/create
 *
 * Policy: `topK` has no OpenAI field and is a pure sampling hint, so it is dropped (real OpenAI rejects unknown
 * parameters). Reasoning parts in assistant history are dropped: Chat Completions has no field to replay them in.
 * Only what cannot be expressed and changes the meaning of the request is refused (ProviderError kind `unsupported`).
 */
import type {
  ChatMessage,
  ChatRequest,
  ImagePart,
  TextPart,
  ToolChoice,
  ReasoningEffort,
} from '../spec/chat-types.ts'
import { ProviderError } from '../spec/provider-error.ts'
import type { OpenAICompat } from './apply-openai-compat.ts'

type WireContentPart =
  { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } }

const imageUrl = (part: ImagePart): string =>
  part.source.type === 'url'
    ? part.source.url
    : `data:${part.source.mediaType};base64,${part.source.data}`

const userContent = (parts: Array<TextPart | ImagePart>): string | WireContentPart[] => {
  if (parts.length === 1 && parts[0].type === 'text') return parts[0].text
  return parts.map((part) =>
    part.type === 'text'
      ? { type: 'text', text: part.text }
      : { type: 'image_url', image_url: { url: imageUrl(part) } }
  )
}

const unsupported = (message: string): ProviderError =>
  new ProviderError({ kind: 'unsupported', status: 400, message })

const convertMessage = (message: ChatMessage, position: number): Record<string, unknown> => {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content }
    case 'user':
      return { role: 'user', content: userContent(message.content) }
    case 'assistant': {
      const text = message.content.flatMap((part) => (part.type === 'text' ? [part.text] : []))
      const toolCalls = message.content.flatMap((part) =>
        part.type === 'tool-call'
          ? [
              {
                id: part.id,
                type: 'function',
                function: { name: part.name, arguments: part.arguments },
              },
            ]
          : []
      )
      const content = text.length > 0 ? text.join('') : toolCalls.length > 0 ? null : ''
      return toolCalls.length > 0
        ? { role: 'assistant', content, tool_calls: toolCalls }
        : { role: 'assistant', content }
    }
    case 'tool': {
      if (message.content.some((part) => part.type === 'image')) {
        throw unsupported(
          `Message ${position}: OpenAI tool results carry text only; this upstream cannot receive an image in a tool result.`
        )
      }
      const text = message.content.map((part) => (part.type === 'text' ? part.text : '')).join('')
      return { role: 'tool', tool_call_id: message.toolCallId, content: text }
    }
  }
}

const convertToolChoice = (choice: ToolChoice): unknown =>
  choice.type === 'tool' ? { type: 'function', function: { name: choice.name } } : choice.type

const convertResponseFormat = (
  format: NonNullable<ChatRequest['responseFormat']>
): Record<string, unknown> => {
  if (format.type !== 'json_schema') return { type: format.type }
  const jsonSchema: Record<string, unknown> = { name: format.name, schema: format.schema }
  if (format.description !== undefined) jsonSchema.description = format.description
  if (format.strict !== undefined) jsonSchema.strict = format.strict
  return { type: 'json_schema', json_schema: jsonSchema }
}

/**
 * Builds the body without `stream`/`stream_options` (the caller decides those). Only fields the client set are sent:
 * nothing is defaulted or clamped. `reasoningEffort` is what the model takes of the client's reasoning
 * (`convertToOpenAIReasoningEffort`).
 */
export const convertToOpenAIRequest = (
  request: ChatRequest,
  compat: OpenAICompat,
  reasoningEffort?: ReasoningEffort
): Record<string, unknown> => {
  const body: Record<string, unknown> = {
    model: request.model,
    messages: request.messages.map(convertMessage),
  }
  if (request.tools !== undefined) {
    body.tools = request.tools.map((tool) => {
      const definition: Record<string, unknown> = { name: tool.name }
      if (tool.description !== undefined) definition.description = tool.description
      definition.parameters = tool.parameters
      if (tool.strict !== undefined) definition.strict = tool.strict
      return { type: 'function', function: definition }
    })
  }
  if (request.toolChoice !== undefined) body.tool_choice = convertToolChoice(request.toolChoice)
  if (request.parallelToolCalls !== undefined) body.parallel_tool_calls = request.parallelToolCalls
  if (request.maxTokens !== undefined) {
    body[compat.maxCompletionTokens ? 'max_completion_tokens' : 'max_tokens'] = request.maxTokens
  }
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.stop !== undefined) body.stop = request.stop
  if (request.responseFormat !== undefined)
    body.response_format = convertResponseFormat(request.responseFormat)
  if (request.user !== undefined) body.user = request.user
  if (request.safetyIdentifier !== undefined) body.safety_identifier = request.safetyIdentifier
  if (request.promptCacheKey !== undefined) body.prompt_cache_key = request.promptCacheKey
  if (request.serviceTier !== undefined) body.service_tier = request.serviceTier
  if (request.verbosity !== undefined) body.verbosity = request.verbosity
  if (reasoningEffort !== undefined) body.reasoning_effort = reasoningEffort
  return body
}
