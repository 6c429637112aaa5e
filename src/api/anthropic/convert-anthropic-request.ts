/**
 * Anthropic Messages body → canonical request, for an Anthropic-shaped client routed to an OpenAI-compatible (or local)
 * upstream. Reference: https://docs.claude.com/en/api/messages; mapping and gaps: wire-notes §4.1 and §4.4.
 * Whatever only an Anthropic model can honour (server tools, documents, MCP servers, containers) is a 400 naming the
 * field, never silently dropped.
 */
import type {
  ChatMessage,
  ChatRequest,
  ImagePart,
  ImageSource,
  ResponseFormat,
  TextPart,
  ToolCallPart,
  ToolChoice,
  ToolDefinition,
} from '../../../providers/spec/chat-types.ts'
import { invalidRequest as gatewayInvalidRequest } from '../../core/errors.ts'
import { isJsonObject } from '../is-json-object.ts'
import { anthropicReasoningEfforts, readReasoningEffort } from '../read-reasoning-effort.ts'

type Json = Record<string, unknown>

/** Anthropic's error body has no `param`: the message names the field, as Anthropic's own 400s do (`messages.1.role: ...`). */
const invalidRequest = (message: string, param: string) =>
  gatewayInvalidRequest(`${param}: ${message}`, param)

const onlyAnthropic = (what: string, model: string, param: string) =>
  invalidRequest(`${what} is only supported by Anthropic models; ${model} cannot use it.`, param)

const textOf = (block: Json, param: string): TextPart => {
  if (typeof block.text !== 'string')
    throw invalidRequest('A text block needs a `text` string.', `${param}.text`)
  return { type: 'text', text: block.text }
}

const imageOf = (block: Json, param: string, model: string): ImagePart => {
  const source = block.source
  if (!isJsonObject(source))
    throw invalidRequest('An image block needs a `source`.', `${param}.source`)
  let converted: ImageSource
  if (
    source.type === 'base64' &&
    typeof source.media_type === 'string' &&
    typeof source.data === 'string'
  ) {
    converted = { type: 'base64', mediaType: source.media_type, data: source.data }
  } else if (source.type === 'url' && typeof source.url === 'string') {
    converted = { type: 'url', url: source.url }
  } else if (source.type === 'file') {
    throw onlyAnthropic('An image from the Files API', model, `${param}.source`)
  } else {
    throw invalidRequest('Unsupported image source.', `${param}.source`)
  }
  return { type: 'image', source: converted }
}

const toolResultOf = (
  block: Json,
  param: string,
  model: string
): Extract<ChatMessage, { role: 'tool' }> => {
  if (typeof block.tool_use_id !== 'string') {
    throw invalidRequest('A tool_result block needs a `tool_use_id`.', `${param}.tool_use_id`)
  }
  const content: Array<TextPart | ImagePart> = []
  if (typeof block.content === 'string') content.push({ type: 'text', text: block.content })
  else if (Array.isArray(block.content)) {
    block.content.forEach((inner: unknown, index) => {
      const innerParam = `${param}.content.${index}`
      if (!isJsonObject(inner))
        throw invalidRequest('A content block must be an object.', innerParam)
      if (inner.type === 'text') content.push(textOf(inner, innerParam))
      else if (inner.type === 'image') content.push(imageOf(inner, innerParam, model))
      else
        throw onlyAnthropic(`A \`${String(inner.type)}\` block in a tool result`, model, innerParam)
    })
  } else if (block.content !== undefined) {
    throw invalidRequest(
      'tool_result `content` must be a string or an array of blocks.',
      `${param}.content`
    )
  }
  return {
    role: 'tool',
    toolCallId: block.tool_use_id,
    content,
    ...(block.is_error === true ? { isError: true } : {}),
  }
}

/** Blocks of a user turn: tool results become `tool` messages placed first, where OpenAI needs them. */
const userMessages = (content: unknown[], param: string, model: string): ChatMessage[] => {
  const results: ChatMessage[] = []
  const parts: Array<TextPart | ImagePart> = []
  content.forEach((block, index) => {
    const blockParam = `${param}.${index}`
    if (!isJsonObject(block)) throw invalidRequest('A content block must be an object.', blockParam)
    if (block.type === 'text') parts.push(textOf(block, blockParam))
    else if (block.type === 'image') parts.push(imageOf(block, blockParam, model))
    else if (block.type === 'tool_result') results.push(toolResultOf(block, blockParam, model))
    else throw onlyAnthropic(`A \`${String(block.type)}\` block`, model, blockParam)
  })
  return parts.length > 0 ? [...results, { role: 'user', content: parts }] : results
}

/**
 * Thinking blocks are dropped: Chat Completions has no input for earlier reasoning, and their signatures mean
 * nothing to another provider (Anthropic itself ignores thinking from earlier turns). An assistant turn that held only
 * thinking disappears with it.
 */
const assistantMessages = (content: unknown[], param: string, model: string): ChatMessage[] => {
  const parts: Array<TextPart | ToolCallPart> = []
  content.forEach((block, index) => {
    const blockParam = `${param}.${index}`
    if (!isJsonObject(block)) throw invalidRequest('A content block must be an object.', blockParam)
    if (block.type === 'text') parts.push(textOf(block, blockParam))
    else if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string') {
        throw invalidRequest('A tool_use block needs an `id` and a `name`.', blockParam)
      }
      parts.push({
        type: 'tool-call',
        id: block.id,
        name: block.name,
        arguments: JSON.stringify(block.input ?? {}),
      })
    } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') {
      throw onlyAnthropic(`A \`${String(block.type)}\` block`, model, blockParam)
    }
  })
  return parts.length > 0 ? [{ role: 'assistant', content: parts }] : []
}

/**
 * A `role: "system"` message inside `messages` (Claude Code sends one after the first user turn) stays a system
 * message at its place. One marked `clear_at: "next_user_message"` is gone once a later user turn exists, as Anthropic
 * no longer shows it then. Its own `output_config.effort` (for the turns after it) has no canonical counterpart.
 */
const midConversationSystem = (
  message: Json,
  options: { param: string; model: string; cleared: boolean }
): ChatMessage[] => {
  const { param, model } = options
  const clearAt = message.clear_at
  if (
    clearAt !== undefined &&
    clearAt !== null &&
    clearAt !== 'never' &&
    clearAt !== 'next_user_message'
  ) {
    throw invalidRequest('`clear_at` must be `never` or `next_user_message`.', `${param}.clear_at`)
  }
  if (message.content === undefined || message.content === null) return []
  const content =
    typeof message.content === 'string'
      ? [{ type: 'text', text: message.content }]
      : message.content
  if (!Array.isArray(content))
    throw invalidRequest(
      '`content` must be a string or an array of text blocks.',
      `${param}.content`
    )
  const texts = content.map((block: unknown, index) => {
    const blockParam = `${param}.content.${index}`
    if (!isJsonObject(block)) throw invalidRequest('A content block must be an object.', blockParam)
    if (block.type !== 'text')
      throw onlyAnthropic(
        `A \`${String(block.type)}\` block in a system message`,
        model,
        blockParam
      )
    return textOf(block, blockParam).text
  })
  const joined = texts.filter((text) => text !== '').join('\n\n')
  return joined === '' || (clearAt === 'next_user_message' && options.cleared)
    ? []
    : [{ role: 'system', content: joined }]
}

const messagesOf = (body: Json, model: string): ChatMessage[] => {
  if (!Array.isArray(body.messages))
    throw invalidRequest('`messages` must be an array.', 'messages')
  const messages: unknown[] = body.messages
  const lastUser = messages.findLastIndex(
    (message) => isJsonObject(message) && message.role === 'user'
  )
  return messages.flatMap((message: unknown, index): ChatMessage[] => {
    const param = `messages.${index}`
    if (!isJsonObject(message)) throw invalidRequest('A message must be an object.', param)
    if (message.role === 'system')
      return midConversationSystem(message, { param, model, cleared: index < lastUser })
    const content =
      typeof message.content === 'string'
        ? [{ type: 'text', text: message.content }]
        : message.content
    if (!Array.isArray(content)) {
      throw invalidRequest('`content` must be a string or an array of blocks.', `${param}.content`)
    }
    if (message.role === 'user') return userMessages(content, `${param}.content`, model)
    if (message.role === 'assistant') return assistantMessages(content, `${param}.content`, model)
    throw invalidRequest(
      `Message role \`${String(message.role)}\` cannot be converted for ${model}; use \`user\`, \`assistant\` or \`system\`.`,
      `${param}.role`
    )
  })
}

/** System text blocks are joined with a blank line: one system message reads the same to every OpenAI-compatible server. */
const systemOf = (system: unknown): ChatMessage[] => {
  if (system === undefined || system === null) return []
  if (typeof system === 'string') return system === '' ? [] : [{ role: 'system', content: system }]
  if (!Array.isArray(system))
    throw invalidRequest('`system` must be a string or an array of text blocks.', 'system')
  const texts = system.map((block: unknown, index) => {
    if (!isJsonObject(block) || block.type !== 'text') {
      throw invalidRequest('`system` takes text blocks only.', `system.${index}`)
    }
    return textOf(block, `system.${index}`).text
  })
  const joined = texts.filter((text) => text !== '').join('\n\n')
  return joined === '' ? [] : [{ role: 'system', content: joined }]
}

const toolsOf = (tools: unknown, model: string): ToolDefinition[] | undefined => {
  if (tools === undefined || tools === null) return undefined
  if (!Array.isArray(tools)) throw invalidRequest('`tools` must be an array.', 'tools')
  return tools.map((tool: unknown, index): ToolDefinition => {
    const param = `tools.${index}`
    if (!isJsonObject(tool)) throw invalidRequest('A tool must be an object.', param)
    if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
      throw onlyAnthropic(`The server tool \`${String(tool.type)}\``, model, `${param}.type`)
    }
    if (typeof tool.name !== 'string')
      throw invalidRequest('A tool needs a `name`.', `${param}.name`)
    if (!isJsonObject(tool.input_schema))
      throw invalidRequest('A tool needs an `input_schema` object.', `${param}.input_schema`)
    return {
      name: tool.name,
      ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
      parameters: tool.input_schema,
      ...(typeof tool.strict === 'boolean' ? { strict: tool.strict } : {}),
    }
  })
}

const toolChoiceOf = (
  choice: unknown
): { toolChoice?: ToolChoice; parallelToolCalls?: boolean } => {
  if (choice === undefined || choice === null) return {}
  if (!isJsonObject(choice)) throw invalidRequest('`tool_choice` must be an object.', 'tool_choice')
  let toolChoice: ToolChoice
  if (choice.type === 'auto') toolChoice = { type: 'auto' }
  else if (choice.type === 'any') toolChoice = { type: 'required' }
  else if (choice.type === 'none') toolChoice = { type: 'none' }
  else if (choice.type === 'tool' && typeof choice.name === 'string')
    toolChoice = { type: 'tool', name: choice.name }
  else throw invalidRequest('Unsupported `tool_choice`.', 'tool_choice')
  return {
    toolChoice,
    ...(choice.disable_parallel_tool_use === true ? { parallelToolCalls: false } : {}),
  }
}

/** `output_config.format` (and the earlier beta `output_format`) map to OpenAI's `json_schema` response format. */
const responseFormatOf = (body: Json): ResponseFormat | undefined => {
  const outputConfig = body.output_config ?? {}
  if (!isJsonObject(outputConfig))
    throw invalidRequest('`output_config` must be an object.', 'output_config')
  const [format, param] =
    outputConfig.format !== undefined && outputConfig.format !== null
      ? [outputConfig.format, 'output_config.format']
      : [body.output_format, 'output_format']
  if (format === undefined || format === null) return undefined
  if (!isJsonObject(format) || format.type !== 'json_schema' || !isJsonObject(format.schema)) {
    throw invalidRequest(
      'Only `{"type":"json_schema","schema":{...}}` output formats are supported.',
      param
    )
  }
  return { type: 'json_schema', name: 'response', schema: format.schema }
}

/**
 * `thinking` and `output_config.effort`, as asked. `between_tools` (Claude thinks between tool calls, as it decides)
 * reads as `adaptive`, the nearest canonical setting; `display` only shapes Anthropic's own answer.
 */
const reasoningOf = (body: Json): ChatRequest['reasoning'] => {
  const reasoning: NonNullable<ChatRequest['reasoning']> = {}
  const outputConfig = body.output_config
  if (isJsonObject(outputConfig)) {
    const effort = readReasoningEffort(outputConfig.effort, {
      param: 'output_config.effort',
      allowed: anthropicReasoningEfforts,
      error: invalidRequest,
    })
    if (effort !== undefined) reasoning.effort = effort
  }
  const thinking = body.thinking
  if (thinking !== undefined && thinking !== null) {
    if (!isJsonObject(thinking)) throw invalidRequest('`thinking` must be an object.', 'thinking')
    if (thinking.type === 'enabled') {
      if (typeof thinking.budget_tokens !== 'number')
        throw invalidRequest('`budget_tokens` must be a number.', 'thinking.budget_tokens')
      reasoning.thinking = 'enabled'
      reasoning.budgetTokens = thinking.budget_tokens
    } else if (thinking.type === 'adaptive' || thinking.type === 'between_tools')
      reasoning.thinking = 'adaptive'
    else if (thinking.type === 'disabled') reasoning.thinking = 'disabled'
    else
      throw invalidRequest(
        '`type` must be `enabled`, `adaptive`, `between_tools` or `disabled`.',
        'thinking.type'
      )
  }
  return Object.keys(reasoning).length === 0 ? undefined : reasoning
}

const numberOf = (body: Json, field: string): number | undefined => {
  const value = body[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number') throw invalidRequest(`\`${field}\` must be a number.`, field)
  return value
}

/**
 * `model` is the resolved upstream model name. `thinking` and `output_config.effort` become the canonical `reasoning`
 * (the target's converter decides what reaches it, or names what does not in `x-gatehouse-omitted-params`). Fields
 * with no OpenAI meaning that only tune Anthropic (`service_tier`, `cache_control`, `context_management`) are not
 * forwarded; `max_tokens` stays absent when absent (count_tokens bodies carry none).
 */
export const convertAnthropicRequest = (
  body: Record<string, unknown>,
  model: string
): ChatRequest => {
  for (const field of ['mcp_servers', 'container'] as const) {
    const value = body[field]
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) {
      throw onlyAnthropic(`\`${field}\``, model, field)
    }
  }
  const stop = body.stop_sequences
  if (
    stop !== undefined &&
    (!Array.isArray(stop) || stop.some((entry) => typeof entry !== 'string'))
  ) {
    throw invalidRequest('`stop_sequences` must be an array of strings.', 'stop_sequences')
  }
  const userId = isJsonObject(body.metadata) ? body.metadata.user_id : undefined
  const tools = toolsOf(body.tools, model)
  const responseFormat = responseFormatOf(body)
  const maxTokens = numberOf(body, 'max_tokens')
  const temperature = numberOf(body, 'temperature')
  const topP = numberOf(body, 'top_p')
  const topK = numberOf(body, 'top_k')
  const reasoning = reasoningOf(body)
  const stream = body.stream === true
  return {
    model,
    messages: [...systemOf(body.system), ...messagesOf(body, model)],
    ...(tools === undefined ? {} : { tools }),
    ...toolChoiceOf(body.tool_choice),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(topP === undefined ? {} : { topP }),
    ...(topK === undefined ? {} : { topK }),
    ...(Array.isArray(stop) && stop.length > 0 ? { stop: stop as string[] } : {}),
    ...(responseFormat === undefined ? {} : { responseFormat }),
    ...(typeof userId === 'string' ? { user: userId } : {}),
    ...(reasoning === undefined ? {} : { reasoning }),
    stream,
    ...(stream ? { includeUsage: true } : {}),
  }
}
