/**
 * A deterministic, documented estimate of a request's input tokens, for when no upstream can count them: Anthropic's
 * `message_start` needs an input count before an OpenAI-compatible upstream reports one, and
 * `/v1/messages/count_tokens` answers from it (marked as estimated) for non-Anthropic upstreams.
 *
 * Text is weighed per character, from the usual BPE rules of thumb: about 4 characters per token for ASCII (English,
 * code), about 2 for other scripts below U+0800 (accented Latin, Greek, Cyrillic, Hebrew, Arabic), and 1 for the rest
 * (CJK and others, which tokenizers rarely merge). Exact counts follow in the usage the upstream reports.
 */
import type { ChatMessage, ChatRequest } from '../../providers/spec/chat-types.ts'
import { estimateTextTokens } from '../../providers/shared/estimate-text-tokens.ts'

export { estimateTextTokens }

/** Role markers and separators around each message (OpenAI's cookbook counts 3-4 per message). */
const messageOverheadTokens = 4
/** Priming of the assistant's reply. */
const requestOverheadTokens = 3
/** Wrapper around each tool definition, besides its name, description and schema text. */
const toolOverheadTokens = 8
/**
 * The tool-use system prompt models add when tools are present; Anthropic documents 300-350 tokens depending on
 * model and `tool_choice` (https://docs.claude.com/en/docs/agents-and-tools/tool-use/overview#pricing).
 */
const toolUsePreambleTokens = 300
/**
 * Images are counted at Anthropic's cap: tokens ≈ width × height / 750, and larger images are scaled down to about
 * 1.15 megapixels, so ≈ 1,600 tokens (https://docs.claude.com/en/docs/build-with-claude/vision#calculate-image-costs).
 * The pixels are not decoded here, so this is an upper estimate.
 */
const imageTokens = 1600

const messageTokens = (message: ChatMessage): number => {
  if (message.role === 'system') return estimateTextTokens(message.content)
  let tokens = message.role === 'tool' ? estimateTextTokens(message.toolCallId) : 0
  for (const part of message.content) {
    if (part.type === 'text' || part.type === 'reasoning') tokens += estimateTextTokens(part.text)
    else if (part.type === 'image') tokens += imageTokens
    else tokens += estimateTextTokens(part.name) + estimateTextTokens(part.arguments)
  }
  return tokens
}

export const estimateTokens = (request: ChatRequest): number => {
  let tokens = requestOverheadTokens
  for (const message of request.messages) tokens += messageOverheadTokens + messageTokens(message)
  if (request.tools && request.tools.length > 0) {
    tokens += toolUsePreambleTokens
    for (const tool of request.tools) {
      tokens +=
        toolOverheadTokens +
        estimateTextTokens(tool.name) +
        estimateTextTokens(tool.description ?? '') +
        estimateTextTokens(JSON.stringify(tool.parameters))
    }
  }
  if (request.responseFormat?.type === 'json_schema') {
    tokens += estimateTextTokens(JSON.stringify(request.responseFormat.schema))
  }
  return tokens
}

/** Content parts that carry media rather than text, in either dialect (an image, audio, a document or file). */
const mediaPartTypes = new Set([
  'image_url',
  'image',
  'input_image',
  'input_audio',
  'audio',
  'document',
  'file',
  'input_file',
])

/** Every string in `value` weighed as text, but a media part, weighed as one image whatever its data's length. */
const weighJson = (value: unknown): number => {
  if (typeof value === 'string') return estimateTextTokens(value)
  if (Array.isArray(value)) {
    let tokens = 0
    for (const item of value) tokens += weighJson(item)
    return tokens
  }
  if (typeof value !== 'object' || value === null) return 0
  const object = value as Record<string, unknown>
  if (typeof object.type === 'string' && mediaPartTypes.has(object.type)) return imageTokens
  let tokens = 0
  for (const key in object) if (key !== 'type' && key !== 'role') tokens += weighJson(object[key])
  return tokens
}

/**
 * The estimate of a chat request read from its body as the client sent it (OpenAI's `messages`, Anthropic's `system`
 * and `messages`, either's `tools`), for a body the canonical form cannot hold: fields and parts only an upstream of
 * the client's own dialect takes (`n`, `logprobs`, audio input, server tools...), which a passthrough forwards as
 * they are. The same weights as `estimateTokens`; every string value counts as text (ids and names too, which the
 * canonical form drops), so it errs high; key names and `type` / `role` values do not count.
 */
export const estimateChatBodyTokens = (body: Record<string, unknown>): number => {
  let tokens = requestOverheadTokens + weighJson(body.system)
  if (Array.isArray(body.messages))
    for (const message of body.messages) tokens += messageOverheadTokens + weighJson(message)
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    tokens += toolUsePreambleTokens
    for (const tool of body.tools) tokens += toolOverheadTokens + weighJson(tool)
  }
  return tokens
}
