/**
 * Canonical result → an Anthropic `message` exactly as the real API writes it (https://docs.claude.com/en/api/messages):
 * no `citations` key on text blocks, no `error` key, `stop_sequence: null` unless one ended the answer. Clients built
 * on strict schemas reject a
 * whole response for one unexpected `null` (wire-notes §3), so nothing is added "just in case".
 *
 * A refusal (OpenAI's `refusal`, a refusal part) is a text block of its own, as Anthropic's content holds what the model
 * wrote, and the answer stops for `refusal`, with `stop_details` (`{type: "refusal", category, explanation}`) as
 * Anthropic's refusals carry it: no category (OpenAI names none), the refusal text as the explanation.
 * https://platform.claude.com/docs/en/test-and-evaluate/strengthen-guardrails/handle-streaming-refusals
 */
import type { ChatResult, FinishReason, Usage } from '../../../providers/spec/chat-types.ts'
import { randomFromAlphabet } from '../../core/random-ids.ts'

export type AnthropicUsageJson = {
  input_tokens: number
  cache_creation_input_tokens: number
  cache_read_input_tokens: number
  /** The writes by cache lifetime: sent only when the upstream said how they split. */
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number }
  output_tokens: number
  output_tokens_details?: { thinking_tokens: number }
}

export type AnthropicContentBlockJson =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }

/** Anthropic's `RefusalStopDetails`: present on every refusal, `null` otherwise. */
export type AnthropicStopDetailsJson = {
  type: 'refusal'
  category: null
  explanation: string | null
}

export type AnthropicMessageJson = {
  id: string
  type: 'message'
  role: 'assistant'
  model: string
  content: AnthropicContentBlockJson[]
  stop_reason: string
  stop_sequence: string | null
  stop_details: AnthropicStopDetailsJson | null
  usage: AnthropicUsageJson
}

const idAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** `prefix` + 24 random base62 characters, the shape of Anthropic's `msg_…` and `toolu_…` ids. */
export const createAnthropicId = (prefix: 'msg_' | 'toolu_'): string =>
  prefix + randomFromAlphabet(24, idAlphabet)

/** Keeps an upstream id that already looks like Anthropic's; OpenAI's `chatcmpl-…` ids get a fresh `msg_` id. */
export const anthropicMessageId = (upstreamId: string | undefined): string =>
  upstreamId?.startsWith('msg_') ? upstreamId : createAnthropicId('msg_')

/**
 * wire-notes §4.2, reversed. `error`/`other` have no Anthropic counterpart; `end_turn` is what a finished turn says,
 * `stop_sequence` one that a stop sequence ended (when the provider said which).
 */
export const toAnthropicStopReason = (
  finishReason: FinishReason | null | undefined,
  /** The answer holds a tool call: Anthropic's answer then stops for it, whatever a lenient server said. */
  calledTools = false
): string => {
  if (finishReason?.stopSequence !== undefined) return 'stop_sequence'
  // Some OpenAI-compatible servers end a turn of tool calls with `stop`: an Anthropic client (Claude Code) runs the
  // tools when the turn stopped for them.
  if (calledTools && (finishReason == null || finishReason.unified === 'stop')) return 'tool_use'
  switch (finishReason?.unified) {
    case 'length':
      return 'max_tokens'
    case 'tool-calls':
      return 'tool_use'
    case 'content-filter':
      return 'refusal'
    default:
      return 'end_turn'
  }
}

/**
 * How the answer stops: `toAnthropicStopReason`, except that an answer holding a refusal (`refusal`: its text, else
 * `null`) stops for `refusal`; a refusal, whatever made it, carries its `stop_details`.
 */
export const toAnthropicStop = (
  finishReason: FinishReason | null | undefined,
  calledTools: boolean,
  refusal: string | null
): { stop_reason: string; stop_details: AnthropicStopDetailsJson | null } => {
  const stopReason = refusal !== null ? 'refusal' : toAnthropicStopReason(finishReason, calledTools)
  return {
    stop_reason: stopReason,
    stop_details:
      stopReason === 'refusal' ? { type: 'refusal', category: null, explanation: refusal } : null,
  }
}

/**
 * Anthropic's `input_tokens` excludes cache reads and writes (the canonical count includes them). The wire requires
 * numbers: an unknown count becomes `fallbackInputTokens` (an estimate, for streams) or 0 only because a number must
 * be sent; the usage record keeps `null`. `cache_creation` (the writes by lifetime) is optional on the wire, so it is
 * sent only when the upstream split its writes (an OpenAI-compatible upstream does not), never made up.
 */
export const toAnthropicUsage = (
  usage: Usage | null | undefined,
  fallback: { inputTokens?: number; outputTokens?: number } = {}
): AnthropicUsageJson => {
  const cacheRead = usage?.cachedInputTokens ?? 0
  const cacheWrite = usage?.cacheWriteInputTokens ?? 0
  const input =
    usage?.inputTokens === null || usage?.inputTokens === undefined
      ? (fallback.inputTokens ?? 0)
      : Math.max(0, usage.inputTokens - cacheRead - cacheWrite)
  const write1h = usage?.cacheWrite1hInputTokens
  return {
    input_tokens: input,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    ...(write1h === null || write1h === undefined || usage?.cacheWriteInputTokens == null
      ? {}
      : {
          cache_creation: {
            ephemeral_5m_input_tokens: Math.max(0, cacheWrite - write1h),
            ephemeral_1h_input_tokens: write1h,
          },
        }),
    output_tokens: usage?.outputTokens ?? fallback.outputTokens ?? 0,
    ...(usage?.reasoningTokens === null || usage?.reasoningTokens === undefined
      ? {}
      : { output_tokens_details: { thinking_tokens: usage.reasoningTokens } }),
  }
}

/**
 * Tool arguments are JSON text; Anthropic's `input` is an object. Empty text means no arguments (`{}`). Text that is
 * not a JSON object (a model's malformed output) is wrapped as `{"_raw_arguments": text}` rather than failing the
 * whole answer or inventing `{}`: the client's tool handler sees exactly what the model produced and can report it.
 */
export const toolInputOf = (argumentsText: string): Record<string, unknown> => {
  if (argumentsText.trim() === '') return {}
  try {
    const parsed: unknown = JSON.parse(argumentsText)
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as Record<string, unknown>
  } catch {
    // wrapped below
  }
  return { _raw_arguments: argumentsText }
}

/**
 * `model` defaults to the model the upstream reported. Reasoning from a provider without signatures becomes a
 * `thinking` block with an empty signature: Anthropic clients display it, and the gateway drops it if replayed.
 */
export const convertToAnthropicResponse = (
  result: ChatResult,
  options: { model?: string } = {}
): AnthropicMessageJson => {
  const choice = result.choices.find((candidate) => candidate.index === 0) ?? result.choices[0]
  const content: AnthropicContentBlockJson[] = []
  let refusal: string | null = null
  for (const part of choice?.content ?? []) {
    if (part.type === 'text' || part.type === 'refusal') {
      if (part.text === '') continue
      content.push({ type: 'text', text: part.text })
      if (part.type === 'refusal') refusal = (refusal ?? '') + part.text
    } else if (part.type === 'reasoning') {
      if (part.redactedData !== undefined)
        content.push({ type: 'redacted_thinking', data: part.redactedData })
      else content.push({ type: 'thinking', thinking: part.text, signature: part.signature ?? '' })
    } else {
      const id = part.id === '' ? createAnthropicId('toolu_') : part.id
      content.push({ type: 'tool_use', id, name: part.name, input: toolInputOf(part.arguments) })
    }
  }
  const stop = toAnthropicStop(
    choice?.finishReason,
    content.some((block) => block.type === 'tool_use'),
    refusal
  )
  return {
    id: anthropicMessageId(result.id),
    type: 'message',
    role: 'assistant',
    model: options.model ?? result.model,
    content,
    stop_reason: stop.stop_reason,
    stop_sequence: choice?.finishReason.stopSequence ?? null,
    stop_details: stop.stop_details,
    usage: toAnthropicUsage(result.usage),
  }
}
