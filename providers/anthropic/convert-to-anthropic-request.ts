/**
 * Canonical request → Anthropic Messages body (wire-notes §4.1; https://docs.claude.com/en/api/messages).
 * Used when an OpenAI-shaped client (or the canonical path) reaches an Anthropic upstream. Everything that cannot be
 * expressed is a `ProviderError` kind `unsupported` (400), never a silent clamp.
 */
import type {
  ChatMessage,
  ChatRequest,
  ImageSource,
  ReasoningPart,
  ResponseFormat,
  TextPart,
  ToolCallPart,
  ToolChoice,
  ReasoningControl,
} from '../spec/chat-types.ts'
import { ProviderError } from '../spec/provider-error.ts'
import { convertToAnthropicReasoning } from './convert-to-anthropic-reasoning.ts'

type Block = Record<string, unknown>
type Turn = { role: 'user' | 'assistant'; content: Block[] }

/** https://docs.claude.com/en/docs/build-with-claude/vision: the only base64 media types the API takes. */
const imageMediaTypes = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp'])

const unsupported = (message: string, param?: string): ProviderError =>
  new ProviderError({
    kind: 'unsupported',
    status: 400,
    message,
    param: param ?? null,
    type: 'invalid_request_error',
  })

const imageBlock = (source: ImageSource): Block => {
  if (source.type === 'url') return { type: 'image', source: { type: 'url', url: source.url } }
  if (!imageMediaTypes.has(source.mediaType)) {
    throw unsupported(
      `Image type ${source.mediaType} is not supported by Anthropic (jpeg, png, gif, webp only).`
    )
  }
  return {
    type: 'image',
    source: { type: 'base64', media_type: source.mediaType, data: source.data },
  }
}

/** Anthropic rejects empty text blocks, and an empty text carries nothing: skip them. */
const textBlocks = (part: TextPart): Block[] =>
  part.text === '' ? [] : [{ type: 'text', text: part.text }]

/**
 * `arguments` is JSON text; Anthropic wants the object. Empty text (sent by some OpenAI-compatible models for
 * argument-less calls) means `{}`; anything else that is not a JSON object cannot be replayed.
 */
const toolInput = (part: ToolCallPart): Record<string, unknown> => {
  if (part.arguments.trim() === '') return {}
  let input: unknown
  try {
    input = JSON.parse(part.arguments)
  } catch {
    throw unsupported(
      `The arguments of tool call ${part.id} (${part.name}) are not valid JSON; Anthropic needs a JSON object.`
    )
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw unsupported(
      `The arguments of tool call ${part.id} (${part.name}) are not a JSON object; Anthropic needs one.`
    )
  }
  return input as Record<string, unknown>
}

/** Only signed reasoning can be replayed; unsigned text (from another provider) is dropped, as Anthropic would reject it. */
const reasoningBlocks = (part: ReasoningPart): Block[] => {
  if (part.redactedData !== undefined)
    return [{ type: 'redacted_thinking', data: part.redactedData }]
  if (part.signature) return [{ type: 'thinking', thinking: part.text, signature: part.signature }]
  return []
}

const toolResultContent = (
  message: Extract<ChatMessage, { role: 'tool' }>
): string | Block[] | undefined => {
  const parts = message.content.filter((part) => part.type !== 'text' || part.text !== '')
  if (parts.length === 0) return undefined
  if (parts.length === 1 && parts[0].type === 'text') return parts[0].text
  return parts.flatMap((part) =>
    part.type === 'text' ? textBlocks(part) : [imageBlock(part.source)]
  )
}

const turnOf = (message: Exclude<ChatMessage, { role: 'system' }>): Turn => {
  switch (message.role) {
    case 'user':
      return {
        role: 'user',
        content: message.content.flatMap((part) =>
          part.type === 'text' ? textBlocks(part) : [imageBlock(part.source)]
        ),
      }
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content.flatMap((part): Block[] => {
          if (part.type === 'text') return textBlocks(part)
          if (part.type === 'reasoning') return reasoningBlocks(part)
          return [{ type: 'tool_use', id: part.id, name: part.name, input: toolInput(part) }]
        }),
      }
    case 'tool': {
      const content = toolResultContent(message)
      return {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: message.toolCallId,
            ...(content === undefined ? {} : { content }),
            ...(message.isError ? { is_error: true } : {}),
          },
        ],
      }
    }
  }
}

/**
 * Anthropic wants alternating turns, and every `tool_result` answering one assistant turn at the start of the next
 * user message ("Did not find N tool_result block(s) at the beginning of this message" otherwise).
 */
const mergeTurns = (turns: Turn[]): Turn[] => {
  const merged: Turn[] = []
  for (const turn of turns) {
    if (turn.content.length === 0) continue
    const last = merged.at(-1)
    if (last && last.role === turn.role) last.content.push(...turn.content)
    else merged.push({ role: turn.role, content: [...turn.content] })
  }
  for (const turn of merged) {
    if (turn.role !== 'user') continue
    turn.content = [
      ...turn.content.filter((block) => block.type === 'tool_result'),
      ...turn.content.filter((block) => block.type !== 'tool_result'),
    ]
  }
  return merged
}

/**
 * System messages become the top-level `system`; one stays a string, several become text blocks (no separator is
 * invented). A system message in the middle of the conversation joins them too: Anthropic has no mid-conversation
 * system turn that every model accepts (wire-notes §4.1), and dropping the instruction would be worse than moving it.
 */
const systemOf = (messages: ChatMessage[]): string | Block[] | undefined => {
  const texts = messages.flatMap((message) =>
    message.role === 'system' && message.content !== '' ? [message.content] : []
  )
  if (texts.length === 0) return undefined
  if (texts.length === 1) return texts[0]
  return texts.map((text) => ({ type: 'text', text }))
}

const toolChoiceOf = (
  choice: ToolChoice | undefined,
  parallelToolCalls: boolean | undefined
): Block | undefined => {
  let mapped: Block | undefined
  if (choice?.type === 'auto') mapped = { type: 'auto' }
  else if (choice?.type === 'none') mapped = { type: 'none' }
  else if (choice?.type === 'required') mapped = { type: 'any' }
  else if (choice?.type === 'tool') mapped = { type: 'tool', name: choice.name }
  if (parallelToolCalls !== false || mapped?.type === 'none') return mapped
  return { ...(mapped ?? { type: 'auto' }), disable_parallel_tool_use: true }
}

const toolsOf = (request: ChatRequest): Block[] | undefined =>
  request.tools?.map((tool, index) => {
    const schemaType = tool.parameters.type
    if (schemaType !== undefined && schemaType !== 'object') {
      throw unsupported(
        `Tool ${tool.name}: Anthropic needs an object schema for tool parameters.`,
        `tools.${index}`
      )
    }
    return {
      name: tool.name,
      ...(tool.description === undefined ? {} : { description: tool.description }),
      input_schema:
        schemaType === undefined ? { type: 'object', ...tool.parameters } : tool.parameters,
      ...(tool.strict === undefined ? {} : { strict: tool.strict }),
    }
  })

/**
 * Structured output uses Anthropic's native `output_config.format` rather than a forced tool: the answer stays a text
 * block (so `stop_reason`, streaming and the client's own tools are untouched), where the forced-tool trick would turn
 * every answer into a `tool_use` to rewrite and collide with a client `tool_choice`.
 * https://docs.claude.com/en/docs/build-with-claude/structured-outputs
 */
const outputConfigOf = (format: ResponseFormat | undefined): Block | undefined => {
  if (format === undefined || format.type === 'text') return undefined
  if (format.type === 'json_object') {
    // Named in Chat Completions terms, as every refusal here; the client's route renames it (`DialectCodec.clientParam`).
    throw unsupported(
      'A JSON object response format has no Anthropic equivalent; ask for a JSON schema instead.',
      'response_format'
    )
  }
  return { format: { type: 'json_schema', schema: format.schema } }
}

/** What both `/v1/messages` and `/v1/messages/count_tokens` take: the prompt, tools and output format. */
export const convertToAnthropicPrompt = (request: ChatRequest): Record<string, unknown> => {
  const system = systemOf(request.messages)
  const turns = request.messages.flatMap((message) =>
    message.role === 'system' ? [] : [turnOf(message)]
  )
  const tools = toolsOf(request)
  const toolChoice = toolChoiceOf(request.toolChoice, request.parallelToolCalls)
  const outputConfig = outputConfigOf(request.responseFormat)
  const messages = mergeTurns(turns)
  // Anthropic needs a message; one whose every part was empty text (skipped above) leaves none.
  if (messages.length === 0)
    throw unsupported('There is no message to send: every message was empty.', 'messages')
  return {
    model: request.model,
    ...(system === undefined ? {} : { system }),
    messages,
    ...(tools === undefined ? {} : { tools }),
    ...(toolChoice === undefined ? {} : { tool_choice: toolChoice }),
    ...(outputConfig === undefined ? {} : { output_config: outputConfig }),
  }
}

/**
 * The full Messages body. `maxTokens` is required by Anthropic; the core fills it from the model table before calling,
 * so its absence here is a bug upstream of the adapter, reported as a 400 rather than guessed. `reasoningControl` is
 * the model's (`convertToAnthropicReasoning`); an unknown model takes the newest, `effort`.
 */
export const convertToAnthropicRequest = (
  request: ChatRequest,
  reasoningControl: ReasoningControl = 'effort'
): Record<string, unknown> => {
  if (request.maxTokens === undefined)
    throw unsupported('max_tokens is required by Anthropic.', 'max_tokens')
  if (request.temperature !== undefined && request.temperature > 1) {
    throw unsupported(
      `temperature ${request.temperature} is above Anthropic's maximum of 1.`,
      'temperature'
    )
  }
  const prompt = convertToAnthropicPrompt(request)
  const reasoning = convertToAnthropicReasoning(request, reasoningControl)
  if (reasoning.effort !== undefined)
    prompt.output_config = { ...(prompt.output_config ?? {}), effort: reasoning.effort }
  return {
    ...prompt,
    max_tokens: request.maxTokens,
    ...(reasoning.thinking === undefined ? {} : { thinking: reasoning.thinking }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.topP === undefined ? {} : { top_p: request.topP }),
    ...(request.topK === undefined ? {} : { top_k: request.topK }),
    ...(request.stop === undefined || request.stop.length === 0
      ? {}
      : { stop_sequences: request.stop }),
    // The hashed id meant for abuse detection first, as Anthropic's `user_id` is (an opaque id, never a name or email).
    ...((request.safetyIdentifier ?? request.user) === undefined
      ? {}
      : { metadata: { user_id: request.safetyIdentifier ?? request.user } }),
    ...(request.stream ? { stream: true } : {}),
  }
}
