/**
 * Canonical chunks → Anthropic's SSE grammar (wire-notes §2; https://docs.claude.com/en/docs/build-with-claude/streaming):
 * `message_start`, then per block `content_block_start` / `content_block_delta`* / `content_block_stop` with indices
 * 0.. in order, then `message_delta` (stop reason, exact usage) and `message_stop`. Every event carries an `event:`
 * line: the official SDK skips events without one. A failure mid-way ends the stream with `event: error`, which the
 * SDK raises as an `APIError`.
 */
import type { ChatChunk, FinishReason, Usage } from '../../../providers/spec/chat-types.ts'
import { isProviderError } from '../../../providers/spec/provider-error.ts'
import { GatewayError } from '../../core/errors.ts'
import { estimateTextTokens } from '../../core/estimate-tokens.ts'
import {
  anthropicMessageId,
  createAnthropicId,
  toAnthropicStop,
  toAnthropicUsage,
} from './convert-to-anthropic-response.ts'

const encoder = new TextEncoder()

const event = (name: string, data: Record<string, unknown>): string =>
  `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`

/** The in-band error event; also ends a forwarded stream that failed after its first byte. */
export const encodeAnthropicErrorEvent = (error: { type: string; message: string }): Uint8Array =>
  encoder.encode(
    event('error', { type: 'error', error: { type: error.type, message: error.message } })
  )

/** Anthropic streams report only these three error types after the 200 (https://docs.claude.com/en/api/errors). */
const errorEventOf = (error: unknown): { type: string; message: string } => {
  if (isProviderError(error)) {
    const type =
      error.kind === 'timeout' || error.status === 504
        ? 'timeout_error'
        : error.status === 529 || error.status === 503 || error.type === 'overloaded_error'
          ? 'overloaded_error'
          : 'api_error'
    return { type, message: error.message }
  }
  if (error instanceof GatewayError) {
    const type =
      error.code === 'timeout'
        ? 'timeout_error'
        : error.code === 'unavailable'
          ? 'overloaded_error'
          : 'api_error'
    return { type, message: error.message }
  }
  return { type: 'api_error', message: 'The gateway failed while streaming the response.' }
}

/** A refusal streams as a text block of its own (`convert-to-anthropic-response.ts`). */
type OpenBlock =
  | { kind: 'text' }
  | { kind: 'refusal' }
  | { kind: 'thinking' }
  | { kind: 'tool'; toolIndex: number }

/**
 * A tool call of the answer: streamed into its block while that block is open (`blockIndex`), or held back whole
 * until it can have a block of its own (`blockIndex` null, its fragments in `arguments`).
 */
type ToolCall = {
  blockIndex: number | null
  id: string
  name: string
  /** The arguments so far: of the open call (to tell when they are complete), or of a held one (to send). */
  arguments: string
  sawArguments: boolean
}

type EncoderState = {
  model: string
  estimatedInputTokens: number
  started: boolean
  nextBlockIndex: number
  open: (OpenBlock & { index: number }) | null
  /** Tool call index → its call (`ToolCall`). */
  tools: Map<number, ToolCall>
  /** Calls held back while another call's block is open, in the order they began (`toolDelta`). */
  held: ToolCall[]
  finishReason: FinishReason | null
  usage: Usage | null
  /** Text emitted so far, for an output estimate when the upstream reports no usage. */
  outputTokens: number
  /** The refusal streamed so far (the answer then stops for `refusal`), `null` while there is none. */
  refusal: string | null
}

const messageStart = (
  state: EncoderState,
  start: Extract<ChatChunk, { type: 'start' }> | null
): string => {
  state.started = true
  if (start?.usage) state.usage = start.usage
  const usage = toAnthropicUsage(start?.usage, { inputTokens: state.estimatedInputTokens })
  return (
    event('message_start', {
      type: 'message_start',
      message: {
        id: anthropicMessageId(start?.id),
        type: 'message',
        role: 'assistant',
        model: start?.model || state.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }) + event('ping', { type: 'ping' })
  )
}

/** A no-argument tool still sends one empty `partial_json`, as the real API does. */
const closeBlock = (state: EncoderState): string => {
  const open = state.open
  if (open === null) return ''
  state.open = null
  let out = ''
  if (open.kind === 'tool' && !state.tools.get(open.toolIndex)?.sawArguments) {
    out += event('content_block_delta', {
      type: 'content_block_delta',
      index: open.index,
      delta: { type: 'input_json_delta', partial_json: '' },
    })
  }
  return out + event('content_block_stop', { type: 'content_block_stop', index: open.index })
}

/** The calls held back, each as a whole block (start, its arguments in one delta, stop), once nothing else is open. */
const releaseHeld = (state: EncoderState): string => {
  let out = ''
  for (const call of state.held) {
    const index = state.nextBlockIndex++
    call.blockIndex = index
    out +=
      event('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} },
      }) +
      delta(index, { type: 'input_json_delta', partial_json: call.arguments }) +
      event('content_block_stop', { type: 'content_block_stop', index })
    call.arguments = ''
  }
  state.held = []
  return out
}

/** Closes the open block, sends what was held back, then opens `block`. */
const openBlock = (
  state: EncoderState,
  block: OpenBlock,
  contentBlock: Record<string, unknown>
): string => {
  const out = closeBlock(state) + releaseHeld(state)
  const index = state.nextBlockIndex++
  state.open = { ...block, index }
  return (
    out +
    event('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: contentBlock,
    })
  )
}

const delta = (index: number, payload: Record<string, unknown>): string =>
  event('content_block_delta', { type: 'content_block_delta', index, delta: payload })

/** The open call's arguments are a whole JSON value: no fragment of it can follow (a valid answer's, that is). */
const isComplete = (text: string): boolean => {
  if (text.trim() === '') return false
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/**
 * Anthropic streams one block at a time: a block's deltas all come between its start and its stop. OpenAI-compatible
 * servers may interleave parallel calls (`index` 0, 1, 0, 1...), so a new call gets a block of its own at once only
 * when the open call's arguments are complete JSON (what the API does: one call after the other); otherwise it is
 * held back whole and sent as a block once the open one has closed (before other content, or at the end). A client
 * that reads a call's input at its `content_block_stop`, as the Vercel AI SDK does, then gets all of it.
 */
const toolDelta = (
  state: EncoderState,
  chunk: Extract<ChatChunk, { type: 'tool-call-delta' }>
): string => {
  let out = ''
  let tool = state.tools.get(chunk.index)
  if (tool === undefined) {
    tool = {
      blockIndex: null,
      id: chunk.id || createAnthropicId('toolu_'),
      name: chunk.name ?? '',
      arguments: '',
      sawArguments: false,
    }
    state.tools.set(chunk.index, tool)
    const open = state.open
    const openCall = open?.kind === 'tool' ? state.tools.get(open.toolIndex) : undefined
    if (state.held.length > 0 || (openCall !== undefined && !isComplete(openCall.arguments)))
      state.held.push(tool)
    else {
      out += openBlock(
        state,
        { kind: 'tool', toolIndex: chunk.index },
        { type: 'tool_use', id: tool.id, name: tool.name, input: {} }
      )
      tool.blockIndex = state.open!.index
    }
  }
  if (chunk.argumentsDelta === '') return out
  tool.sawArguments = true
  state.outputTokens += estimateTextTokens(chunk.argumentsDelta)
  if (tool.blockIndex === null || state.open?.index === tool.blockIndex)
    tool.arguments += chunk.argumentsDelta
  if (tool.blockIndex === null) return out
  // A fragment for a call whose block closed already (text came between, which no real answer does) still goes to
  // that call's block: the SDK accumulates deltas by index.
  return (
    out + delta(tool.blockIndex, { type: 'input_json_delta', partial_json: chunk.argumentsDelta })
  )
}

const encodeChunk = (state: EncoderState, chunk: ChatChunk): string => {
  let out = state.started ? '' : messageStart(state, chunk.type === 'start' ? chunk : null)
  if ('choiceIndex' in chunk && chunk.choiceIndex !== 0) return out
  switch (chunk.type) {
    case 'text-delta':
    case 'refusal-delta': {
      if (chunk.delta === '') return out
      const kind = chunk.type === 'text-delta' ? 'text' : 'refusal'
      if (state.open?.kind !== kind) out += openBlock(state, { kind }, { type: 'text', text: '' })
      if (kind === 'refusal') state.refusal = (state.refusal ?? '') + chunk.delta
      state.outputTokens += estimateTextTokens(chunk.delta)
      return out + delta(state.open!.index, { type: 'text_delta', text: chunk.delta })
    }
    case 'reasoning-delta':
      if (chunk.redactedData !== undefined)
        return (
          out +
          openBlock(
            state,
            { kind: 'thinking' },
            { type: 'redacted_thinking', data: chunk.redactedData }
          ) +
          closeBlock(state)
        )
      if (chunk.delta === '' && !chunk.signature) return out
      if (state.open?.kind !== 'thinking') {
        out += openBlock(
          state,
          { kind: 'thinking' },
          { type: 'thinking', thinking: '', signature: '' }
        )
      }
      if (chunk.delta !== '') {
        state.outputTokens += estimateTextTokens(chunk.delta)
        out += delta(state.open!.index, { type: 'thinking_delta', thinking: chunk.delta })
      }
      if (chunk.signature)
        out += delta(state.open!.index, { type: 'signature_delta', signature: chunk.signature })
      return out
    case 'tool-call-delta':
      return out + toolDelta(state, chunk)
    case 'finish':
      state.finishReason = chunk.finishReason
      return out
    case 'usage':
      state.usage = chunk.usage
      return out
    case 'start':
      return out
  }
}

/**
 * `message_delta` carries the exact usage once the upstream reported it; before that (or without it) the input count
 * is the estimate sent in `message_start` and the output count is estimated from the text streamed.
 */
const finishMessage = (state: EncoderState): string => {
  const stop = toAnthropicStop(state.finishReason, state.tools.size > 0, state.refusal)
  return (
    closeBlock(state) +
    releaseHeld(state) +
    event('message_delta', {
      type: 'message_delta',
      delta: {
        stop_reason: stop.stop_reason,
        stop_sequence: state.finishReason?.stopSequence ?? null,
        stop_details: stop.stop_details,
      },
      usage: toAnthropicUsage(state.usage, {
        inputTokens: state.estimatedInputTokens,
        outputTokens: state.outputTokens,
      }),
    }) +
    event('message_stop', { type: 'message_stop' })
  )
}

/**
 * `estimatedInputTokens` fills `message_start.usage.input_tokens` when the first chunk carries no usage (OpenAI
 * upstreams report it only at the end). Cancelling the result cancels `chunks`.
 */
export const encodeAnthropicSse = (
  chunks: ReadableStream<ChatChunk>,
  options: { model: string; estimatedInputTokens: number }
): ReadableStream<Uint8Array> => {
  const reader = chunks.getReader()
  const state: EncoderState = {
    model: options.model,
    estimatedInputTokens: options.estimatedInputTokens,
    started: false,
    nextBlockIndex: 0,
    open: null,
    tools: new Map(),
    held: [],
    finishReason: null,
    usage: null,
    outputTokens: 0,
    refusal: null,
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) {
            const head = state.started ? '' : messageStart(state, null)
            controller.enqueue(encoder.encode(head + finishMessage(state)))
            controller.close()
            return
          }
          const out = encodeChunk(state, value)
          if (out !== '') {
            controller.enqueue(encoder.encode(out))
            return
          }
        }
      } catch (error) {
        controller.enqueue(encodeAnthropicErrorEvent(errorEventOf(error)))
        controller.close()
        await reader.cancel(error).catch(() => {})
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}
