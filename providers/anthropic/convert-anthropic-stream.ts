/**
 * Anthropic SSE → canonical chunks (wire-notes §2; https://docs.claude.com/en/docs/build-with-claude/streaming).
 * Tool calls get their own 0-based index, independent of Anthropic's block index (which also counts text and
 * thinking blocks). A stream must end with `message_stop`; anything else is an error, never a silent truncation.
 */
import { readSseEvents, type SseEvent } from '../shared/parse-sse.ts'
import type { ChunkReader } from '../spec/provider-adapter.ts'
import type { ChatChunk } from '../spec/chat-types.ts'
import { isProviderError, ProviderError } from '../spec/provider-error.ts'
import {
  anthropicContentBlockDeltaSchema,
  anthropicContentBlockStartSchema,
  anthropicContentBlockStopSchema,
  anthropicMessageDeltaSchema,
  anthropicMessageStartSchema,
  type AnthropicUsage,
} from './anthropic-api.ts'
import { anthropicBadResponse, anthropicStreamError } from './anthropic-error.ts'
import { convertAnthropicUsage, mergeAnthropicUsage } from './convert-anthropic-usage.ts'
import { mapAnthropicStopReason } from './map-anthropic-stop-reason.ts'

type OpenBlock =
  | { kind: 'text' }
  | { kind: 'thinking' }
  | { kind: 'tool'; toolIndex: number; sawArguments: boolean; initialInput: unknown }
  | { kind: 'other' }

/** What the conversion of one stream remembers between events. */
export type AnthropicStreamState = {
  providerId: string
  created: number
  blocks: Map<number, OpenBlock>
  toolCount: number
  usage: AnthropicUsage | null
  /** `message_stop` was read: the message is complete. */
  stopped: boolean
  /**
   * Something went by that the canonical chunks cannot carry, so an answer assembled from them would lack it: a
   * block of a type they have no place for (server tool use and results, compaction, a fallback), a citation, a stop
   * reason without a canonical meaning. The prompt cache must not replay such an answer
   * (`create-anthropic-answer-tap.ts`).
   */
  lossy: boolean
}

export const createAnthropicStreamState = (options: {
  providerId: string
  created: number
}): AnthropicStreamState => ({
  providerId: options.providerId,
  created: options.created,
  blocks: new Map(),
  toolCount: 0,
  usage: null,
  stopped: false,
  lossy: false,
})

const parseData = <T>(
  state: AnthropicStreamState,
  event: SseEvent,
  schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } }
): T => {
  let json: unknown
  try {
    json = JSON.parse(event.data)
  } catch (error) {
    throw anthropicBadResponse(
      `Anthropic sent an unreadable ${event.event ?? 'stream'} event.`,
      state.providerId,
      error
    )
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    throw anthropicBadResponse(
      `Anthropic sent a malformed ${event.event ?? 'stream'} event.`,
      state.providerId
    )
  }
  return parsed.data
}

const blockStart = (state: AnthropicStreamState, event: SseEvent): ChatChunk[] => {
  const { index, content_block: block } = parseData(state, event, anthropicContentBlockStartSchema)
  const initial = block as Record<string, unknown>
  switch (block.type) {
    case 'text': {
      state.blocks.set(index, { kind: 'text' })
      const text = typeof initial.text === 'string' ? initial.text : ''
      return text === '' ? [] : [{ type: 'text-delta', choiceIndex: 0, delta: text }]
    }
    case 'thinking': {
      state.blocks.set(index, { kind: 'thinking' })
      const text = typeof initial.thinking === 'string' ? initial.thinking : ''
      return text === '' ? [] : [{ type: 'reasoning-delta', choiceIndex: 0, delta: text }]
    }
    case 'tool_use': {
      const toolIndex = state.toolCount++
      state.blocks.set(index, {
        kind: 'tool',
        toolIndex,
        sawArguments: false,
        initialInput: initial.input,
      })
      return [
        {
          type: 'tool-call-delta',
          choiceIndex: 0,
          index: toolIndex,
          id: String(initial.id ?? ''),
          name: String(initial.name ?? ''),
          argumentsDelta: '',
        },
      ]
    }
    default:
      state.blocks.set(index, { kind: 'other' })
      // Whole at its start (it has no deltas): a reasoning part of its own, which the client must send back.
      if (block.type === 'redacted_thinking' && typeof block.data === 'string')
        return [{ type: 'reasoning-delta', choiceIndex: 0, delta: '', redactedData: block.data }]
      state.lossy = true
      return []
  }
}

const blockDelta = (state: AnthropicStreamState, event: SseEvent): ChatChunk[] => {
  const { index, delta } = parseData(state, event, anthropicContentBlockDeltaSchema)
  const block = state.blocks.get(index)
  if (delta.type === 'text_delta' && block?.kind === 'text' && delta.text) {
    return [{ type: 'text-delta', choiceIndex: 0, delta: delta.text }]
  }
  if (delta.type === 'thinking_delta' && block?.kind === 'thinking' && delta.thinking) {
    return [{ type: 'reasoning-delta', choiceIndex: 0, delta: delta.thinking }]
  }
  if (delta.type === 'signature_delta' && block?.kind === 'thinking' && delta.signature) {
    return [{ type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: delta.signature }]
  }
  if (delta.type === 'citations_delta') state.lossy = true
  if (delta.type === 'input_json_delta' && block?.kind === 'tool' && delta.partial_json) {
    block.sawArguments = true
    return [
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: block.toolIndex,
        argumentsDelta: delta.partial_json,
      },
    ]
  }
  return []
}

/** A tool with no arguments streams one empty `partial_json`; its arguments must still read as a JSON object. */
const blockStop = (state: AnthropicStreamState, event: SseEvent): ChatChunk[] => {
  const { index } = parseData(state, event, anthropicContentBlockStopSchema)
  const block = state.blocks.get(index)
  if (block?.kind !== 'tool' || block.sawArguments) return []
  const input =
    typeof block.initialInput === 'object' && block.initialInput !== null ? block.initialInput : {}
  return [
    {
      type: 'tool-call-delta',
      choiceIndex: 0,
      index: block.toolIndex,
      argumentsDelta: JSON.stringify(input),
    },
  ]
}

/** Anthropic names every event; an Anthropic-compatible server that only sends `data:` still repeats it in `type`. */
const eventName = (event: SseEvent): string | undefined => {
  if (event.event !== undefined) return event.event
  try {
    const json: unknown = JSON.parse(event.data)
    const type = typeof json === 'object' && json !== null && 'type' in json ? json.type : undefined
    return typeof type === 'string' ? type : undefined
  } catch {
    return undefined
  }
}

/**
 * One SSE event of a Messages stream → its canonical chunks. Shared by the converted stream and the forwarded body's
 * answer tap. Throws a `ProviderError` on an `error` event and on an event that is unreadable or malformed.
 */
export const convertAnthropicStreamEvent = (
  state: AnthropicStreamState,
  event: SseEvent
): ChatChunk[] => {
  switch (eventName(event)) {
    case 'message_start': {
      const { message } = parseData(state, event, anthropicMessageStartSchema)
      state.usage = message.usage ?? null
      return [
        {
          type: 'start',
          id: message.id,
          model: message.model,
          created: state.created,
          // `message_start`'s output count is a placeholder (1): unknown until a `message_delta` reports it.
          ...(message.usage
            ? { usage: { ...convertAnthropicUsage(message.usage), outputTokens: null } }
            : {}),
        },
      ]
    }
    case 'content_block_start':
      return blockStart(state, event)
    case 'content_block_delta':
      return blockDelta(state, event)
    case 'content_block_stop':
      return blockStop(state, event)
    case 'message_delta': {
      const { delta, usage } = parseData(state, event, anthropicMessageDeltaSchema)
      const chunks: ChatChunk[] = []
      if (delta?.stop_reason) {
        const finishReason = mapAnthropicStopReason(delta.stop_reason)
        if (finishReason.unified === 'other') state.lossy = true
        chunks.push({ type: 'finish', choiceIndex: 0, finishReason })
      }
      if (usage) {
        state.usage = mergeAnthropicUsage(state.usage, usage)
        chunks.push({ type: 'usage', usage: convertAnthropicUsage(state.usage) })
      }
      return chunks
    }
    case 'message_stop':
      state.stopped = true
      return []
    case 'error':
      throw anthropicStreamError(event.data, state.providerId)
    default:
      return []
  }
}

const asProviderError = (error: unknown, providerId: string): ProviderError =>
  isProviderError(error)
    ? error
    : new ProviderError({
        kind: 'connection',
        status: 502,
        message: 'The connection to Anthropic failed during the stream.',
        providerId,
        cause: error,
      })

/** Events read after `message_stop` before giving up on the body ending by itself. */
const maxEventsAfterStop = 8

/**
 * The body normally ends right after `message_stop`; reading it to its end lets the connection return to the pool
 * (cancelling a body mid-way may close it). A body that keeps going is cancelled.
 */
const releaseAfterStop = async (reader: ChunkReader<SseEvent>): Promise<void> => {
  try {
    for (let count = 0; count < maxEventsAfterStop; count++) {
      if ((await reader.read()).done) return
    }
  } catch {
    return
  }
  await reader.cancel().catch(() => {})
}

/** Cancelling the result cancels the upstream body. */
export const convertAnthropicStream = (
  body: ReadableStream<Uint8Array> | ChunkReader<Uint8Array>,
  options: { providerId: string; created: number }
): ReadableStream<ChatChunk> => {
  const reader = readSseEvents(body)
  const state = createAnthropicStreamState(options)
  return new ReadableStream<ChatChunk>({
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) {
            throw anthropicBadResponse(
              'Anthropic closed the stream before message_stop.',
              state.providerId
            )
          }
          const chunks = convertAnthropicStreamEvent(state, value)
          for (const chunk of chunks) controller.enqueue(chunk)
          if (state.stopped) {
            controller.close()
            void releaseAfterStop(reader)
            return
          }
          if (chunks.length > 0) return
        }
      } catch (error) {
        controller.error(asProviderError(error, state.providerId))
        await reader.cancel().catch(() => {})
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}
