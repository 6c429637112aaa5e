/**
 * An OpenAI chat completion SSE body → canonical `ChatChunk`s
 * (https://platform.openai.com/docs/api-reference/chat-streaming/streaming; grammar in wire-notes §1).
 *
 * The stream errors with a `ProviderError` on an in-band `{"error":...}` chunk, on a chunk that is not JSON, and when
 * the body ends before `[DONE]` and before any `finish_reason` (the upstream closed it early). Cancelling it cancels
 * the upstream body.
 */
import type { SseEvent } from '../shared/parse-sse.ts'
import { chunkSseStream } from '../shared/chunk-sse-stream.ts'
import type { ChunkReader } from '../spec/provider-adapter.ts'
import { badUpstreamResponse } from '../shared/sse-stream-failures.ts'
import type { ChatChunk } from '../spec/chat-types.ts'
import { ProviderError } from '../spec/provider-error.ts'
import { readArguments, readReasoning } from './convert-openai-chat-response.ts'
import { convertOpenAIUsage } from './convert-openai-usage.ts'
import { mapOpenAIFinishReason } from './map-openai-finish-reason.ts'
import { openAIChatChunkSchema, type OpenAIChatChunk } from './openai-api.ts'
import { createInBandError, extractOpenAIError } from './read-openai-error.ts'

export type ParseOpenAIChatStreamOptions = {
  providerId: string
  /** The requested model, for servers whose chunks leave `model` out. */
  model: string
  /** Unix seconds, for servers whose chunks leave `created` out. */
  now: number
}

/** What the conversion of one stream remembers between events. */
export type OpenAIChatStreamState = {
  started: boolean
  /** `[DONE]` was read: later events are ignored. */
  done: boolean
  finished: Set<number>
  /** `choice:index` of tool calls whose first fragment (id, name) was emitted. */
  toolCalls: Set<string>
  /**
   * Per choice, for servers that leave a tool call's `index` out (the API always sends it): the index given to each
   * call id, and the last one, which a fragment without an id continues. Made on the first such fragment.
   */
  indexless?: Map<number, { ids: Map<string, number>; next: number; last: number }>
}

export const createOpenAIChatStreamState = (): OpenAIChatStreamState => ({
  started: false,
  done: false,
  finished: new Set(),
  toolCalls: new Set(),
})

const parseData = (data: string, providerId: string): unknown => {
  try {
    return JSON.parse(data)
  } catch (error) {
    throw new ProviderError({
      kind: 'bad-response',
      status: 502,
      message: 'The upstream sent a stream chunk that is not valid JSON.',
      providerId,
      detail: data.slice(0, 2048),
      cause: error,
    })
  }
}

/**
 * The index of a tool call fragment that has none: a new id is the next call, a known id its own call; without an id,
 * its place among several in its chunk (a server that sends every call in every chunk), or alone the last call's
 * continuation. By place alone, two calls that each came in a chunk of their own were both index 0, and their
 * arguments ran together into one.
 */
const indexOfUnnumbered = (
  state: OpenAIChatStreamState,
  choiceIndex: number,
  id: string | null | undefined,
  /** Its place among the calls of its chunk when there are several, else -1. */
  position: number
): number => {
  const choices = (state.indexless ??= new Map())
  let calls = choices.get(choiceIndex)
  if (calls === undefined) {
    calls = { ids: new Map(), next: 0, last: -1 }
    choices.set(choiceIndex, calls)
  }
  if (!id) {
    if (position !== -1) return position
    return calls.last === -1 ? (calls.last = calls.next++) : calls.last
  }
  let index = calls.ids.get(id)
  if (index === undefined) {
    index = calls.next++
    calls.ids.set(id, index)
  }
  calls.last = index
  return index
}

const convertChunk = (
  chunk: OpenAIChatChunk,
  state: OpenAIChatStreamState,
  options: ParseOpenAIChatStreamOptions
): ChatChunk[] => {
  const out: ChatChunk[] = []
  if (!state.started) {
    state.started = true
    out.push({
      type: 'start',
      id: chunk.id ?? '',
      model: chunk.model ?? options.model,
      created: chunk.created ?? options.now,
    })
  }
  for (const [position, choice] of (chunk.choices ?? []).entries()) {
    const choiceIndex = choice.index ?? position
    const delta = choice.delta
    if (delta) {
      const reasoning = readReasoning(delta)
      if (reasoning !== null) out.push({ type: 'reasoning-delta', choiceIndex, delta: reasoning })
      if (delta.content) out.push({ type: 'text-delta', choiceIndex, delta: delta.content })
      if (delta.refusal) out.push({ type: 'refusal-delta', choiceIndex, delta: delta.refusal })
      const calls = delta.tool_calls ?? []
      for (let position = 0; position < calls.length; position += 1) {
        const call = calls[position]
        const index =
          call.index ??
          indexOfUnnumbered(state, choiceIndex, call.id, calls.length > 1 ? position : -1)
        const key = `${choiceIndex}:${index}`
        const argumentsDelta = readArguments(call.function?.arguments)
        if (state.toolCalls.has(key)) {
          out.push({ type: 'tool-call-delta', choiceIndex, index, argumentsDelta })
          continue
        }
        state.toolCalls.add(key)
        const first: Extract<ChatChunk, { type: 'tool-call-delta' }> = {
          type: 'tool-call-delta',
          choiceIndex,
          index,
          argumentsDelta,
        }
        if (call.id) first.id = call.id
        if (call.function?.name) first.name = call.function.name
        out.push(first)
      }
    }
    if (choice.finish_reason && !state.finished.has(choiceIndex)) {
      state.finished.add(choiceIndex)
      out.push({
        type: 'finish',
        choiceIndex,
        finishReason: mapOpenAIFinishReason(choice.finish_reason),
      })
    }
  }
  const usage = convertOpenAIUsage(chunk.usage)
  if (usage) out.push({ type: 'usage', usage })
  return out
}

/**
 * One SSE event of a chat completion stream → its canonical chunks (the first one also yields `start`). Shared by
 * the converted stream and the forwarded body's answer tap. Throws a `ProviderError` on an in-band error, a chunk
 * that is not JSON, or one of an unexpected shape.
 */
export const convertOpenAIChatEvent = (
  event: SseEvent,
  state: OpenAIChatStreamState,
  options: ParseOpenAIChatStreamOptions
): ChatChunk[] => {
  if (state.done) return []
  const data = event.data.trim()
  if (data === '') return []
  if (data.startsWith('[DONE]')) {
    state.done = true
    return []
  }
  const value = parseData(data, options.providerId)
  const error = extractOpenAIError(value)
  if (error) {
    throw createInBandError({ value, error, providerId: options.providerId })
  }
  const parsed = openAIChatChunkSchema.safeParse(value)
  if (!parsed.success) {
    throw badUpstreamResponse(
      options.providerId,
      'The upstream sent a stream chunk of an unexpected shape.',
      data.slice(0, 2048)
    )
  }
  return convertChunk(parsed.data, state, options)
}

export const parseOpenAIChatStream = (
  body: ReadableStream<Uint8Array> | ChunkReader<Uint8Array>,
  options: ParseOpenAIChatStreamOptions
): ReadableStream<ChatChunk> => {
  const state = createOpenAIChatStreamState()
  return chunkSseStream(body, {
    providerId: options.providerId,
    convert: (event) => convertOpenAIChatEvent(event, state, options),
    complete: () => state.done || state.finished.size > 0,
  })
}
