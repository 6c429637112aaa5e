/**
 * An OpenAI Responses API SSE body → canonical `ChatChunk`s, for a Chat Completions or Messages client whose model
 * OpenAI serves only through the Responses API. https://platform.openai.com/docs/api-reference/responses-streaming
 * (order and pitfalls: wire-notes §9).
 *
 * - `response.created` → `start` (id, model, `created_at`).
 * - `response.output_text.delta` → `text-delta`; `response.refusal.delta` → `refusal-delta` (kept apart from text);
 *   `response.reasoning_summary_text.delta` → `reasoning-delta` (summary parts one paragraph apart).
 * - Each `function_call` output item is the next tool call (index 0, 1... in output order): its id (`call_id`) and
 *   name on the first fragment, then `response.function_call_arguments.delta`s. The live API sometimes sends the
 *   arguments only in `.done` (or only in the finished item): a call with no delta gets them there, whole.
 * - `response.completed` / `response.incomplete` → `finish` (see map-openai-responses-finish-reason.ts) and `usage`.
 * - `response.failed` and `error` fail the stream with a `ProviderError`, as the chat stream parser does for an
 *   in-band error; so does a body that ends before the response did.
 */
import type { SseEvent } from '../shared/parse-sse.ts'
import { chunkSseStream } from '../shared/chunk-sse-stream.ts'
import type { ChunkReader } from '../spec/provider-adapter.ts'
import { badUpstreamResponse } from '../shared/sse-stream-failures.ts'
import type { ChatChunk } from '../spec/chat-types.ts'
import { ProviderError } from '../spec/provider-error.ts'
import { convertOpenAIResponsesUsage } from './convert-openai-usage.ts'
import { mapOpenAIResponsesFinishReason } from './map-openai-responses-finish-reason.ts'
import { createResponsesFailure } from './read-openai-error.ts'

type Json = Record<string, unknown>

export type ParseOpenAIResponsesStreamOptions = {
  providerId: string
  /** The requested model, should the events leave `model` out. */
  model: string
  /** Unix seconds, should the events leave `created_at` out. */
  now: number
}

type ToolCallState = { index: number; sentArguments: boolean }

/** What the conversion of one stream remembers between events. */
export type OpenAIResponsesStreamState = {
  started: boolean
  /** The response ended (`response.completed` / `.incomplete`): later events are ignored. */
  done: boolean
  /** Function calls by output item id (and by `output_index`, for events that name only that). */
  toolCalls: Map<string, ToolCallState>
  toolCallCount: number
  /** Summary parts seen per reasoning item, to put a paragraph break between them. */
  summaryParts: Set<string>
}

export const createOpenAIResponsesStreamState = (): OpenAIResponsesStreamState => ({
  started: false,
  done: false,
  toolCalls: new Map(),
  toolCallCount: 0,
  summaryParts: new Set(),
})

const isJson = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const parseData = (data: string, providerId: string): Json => {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch (error) {
    throw new ProviderError({
      kind: 'bad-response',
      status: 502,
      message: 'The upstream sent a stream event that is not valid JSON.',
      providerId,
      detail: data.slice(0, 2048),
      cause: error,
    })
  }
  if (!isJson(value))
    throw badUpstreamResponse(
      providerId,
      'The upstream sent a stream event of an unexpected shape.',
      data.slice(0, 2048)
    )
  return value
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '')

const keysOf = (event: Json): string[] => {
  const keys: string[] = []
  if (typeof event.item_id === 'string') keys.push(event.item_id)
  if (typeof event.output_index === 'number') keys.push(`#${event.output_index}`)
  return keys
}

const findCall = (state: OpenAIResponsesStreamState, event: Json): ToolCallState | undefined => {
  for (const key of keysOf(event)) {
    const call = state.toolCalls.get(key)
    if (call) return call
  }
  return undefined
}

/** A `function_call` item, announced or finished: its first fragment, unless already sent. */
const openCall = (
  state: OpenAIResponsesStreamState,
  item: Json,
  outputIndex: unknown,
  out: ChatChunk[]
): ToolCallState => {
  const keys: string[] = []
  if (typeof item.id === 'string') keys.push(item.id)
  if (typeof outputIndex === 'number') keys.push(`#${outputIndex}`)
  for (const key of keys) {
    const known = state.toolCalls.get(key)
    if (known) return known
  }
  const call: ToolCallState = { index: state.toolCallCount, sentArguments: false }
  state.toolCallCount += 1
  for (const key of keys) state.toolCalls.set(key, call)
  const first: Extract<ChatChunk, { type: 'tool-call-delta' }> = {
    type: 'tool-call-delta',
    choiceIndex: 0,
    index: call.index,
    argumentsDelta: '',
  }
  if (typeof item.call_id === 'string') first.id = item.call_id
  if (typeof item.name === 'string') first.name = item.name
  out.push(first)
  return call
}

/** Arguments known whole (`.done`, or the finished item): sent only when no delta carried them. */
const completeArguments = (call: ToolCallState, value: unknown, out: ChatChunk[]): void => {
  if (call.sentArguments) return
  call.sentArguments = true
  const whole = typeof value === 'string' ? value : isJson(value) ? JSON.stringify(value) : ''
  if (whole !== '')
    out.push({ type: 'tool-call-delta', choiceIndex: 0, index: call.index, argumentsDelta: whole })
}

const start = (
  state: OpenAIResponsesStreamState,
  response: Json,
  options: ParseOpenAIResponsesStreamOptions,
  out: ChatChunk[]
): void => {
  if (state.started) return
  state.started = true
  out.push({
    type: 'start',
    id: text(response.id),
    model: typeof response.model === 'string' ? response.model : options.model,
    created: typeof response.created_at === 'number' ? response.created_at : options.now,
  })
}

/**
 * One SSE event of a Responses stream → its canonical chunks. Throws a `ProviderError` on `error`, `response.failed`,
 * or an event that is not a JSON object.
 */
export const convertOpenAIResponsesEvent = (
  event: SseEvent,
  state: OpenAIResponsesStreamState,
  options: ParseOpenAIResponsesStreamOptions
): ChatChunk[] => {
  if (state.done) return []
  const data = event.data.trim()
  if (data === '' || data.startsWith('[DONE]')) return []
  const value = parseData(data, options.providerId)
  const type = typeof value.type === 'string' ? value.type : event.event
  const response = isJson(value.response) ? value.response : {}
  const out: ChatChunk[] = []
  switch (type) {
    case 'error':
      throw createResponsesFailure({ error: value, providerId: options.providerId, value })
    case 'response.failed':
      throw createResponsesFailure({
        error: response.error,
        providerId: options.providerId,
        value,
      })
    case 'response.created':
    case 'response.in_progress':
      start(state, response, options, out)
      return out
  }
  start(state, {}, options, out)
  switch (type) {
    case 'response.output_text.delta':
    case 'response.refusal.delta': {
      const delta = text(value.delta)
      if (delta !== '')
        out.push({
          type: type === 'response.refusal.delta' ? 'refusal-delta' : 'text-delta',
          choiceIndex: 0,
          delta,
        })
      break
    }
    case 'response.reasoning_summary_text.delta': {
      const delta = text(value.delta)
      if (delta === '') break
      const item = text(value.item_id)
      const part = `${item}:${String(value.summary_index)}`
      const separator =
        !state.summaryParts.has(part) &&
        [...state.summaryParts].some((seen) => seen.startsWith(`${item}:`))
      state.summaryParts.add(part)
      out.push({
        type: 'reasoning-delta',
        choiceIndex: 0,
        delta: separator ? `\n\n${delta}` : delta,
      })
      break
    }
    case 'response.output_item.added':
    case 'response.output_item.done': {
      const item = isJson(value.item) ? value.item : {}
      if (item.type !== 'function_call') break
      const call = openCall(state, item, value.output_index, out)
      if (type === 'response.output_item.done') completeArguments(call, item.arguments, out)
      break
    }
    case 'response.function_call_arguments.delta': {
      const call = findCall(state, value)
      const delta = text(value.delta)
      if (call === undefined || delta === '') break
      call.sentArguments = true
      out.push({
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: call.index,
        argumentsDelta: delta,
      })
      break
    }
    case 'response.function_call_arguments.done': {
      const call = findCall(state, value)
      if (call !== undefined) completeArguments(call, value.arguments, out)
      break
    }
    case 'response.completed':
    case 'response.incomplete': {
      state.done = true
      const output = Array.isArray(response.output) ? response.output : []
      const hasToolCalls =
        state.toolCallCount > 0 ||
        output.some((item) => isJson(item) && item.type === 'function_call')
      out.push({
        type: 'finish',
        choiceIndex: 0,
        finishReason: mapOpenAIResponsesFinishReason(response, hasToolCalls),
      })
      const usage = convertOpenAIResponsesUsage(response.usage)
      if (usage) out.push({ type: 'usage', usage })
      break
    }
  }
  return out
}

export const parseOpenAIResponsesStream = (
  body: ReadableStream<Uint8Array> | ChunkReader<Uint8Array>,
  options: ParseOpenAIResponsesStreamOptions
): ReadableStream<ChatChunk> => {
  const state = createOpenAIResponsesStreamState()
  return chunkSseStream(body, {
    providerId: options.providerId,
    convert: (event) => convertOpenAIResponsesEvent(event, state, options),
    complete: () => state.done,
  })
}
