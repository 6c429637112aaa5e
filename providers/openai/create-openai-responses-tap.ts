/**
 * Side parser for a forwarded Responses API body (`POST /v1/responses` passed through to OpenAI): the bytes go to the
 * client untouched; this learns the model, the usage and a failure. Never throws, never delays the body.
 *
 * - Not streamed: the `Response` object; `usage` uses the Responses names (`input_tokens`, `output_tokens`, with
 *   `input_tokens_details.cached_tokens` and `output_tokens_details.reasoning_tokens`), `error` is `null` unless the
 *   response failed.
 * - Streamed: every event names its type on its `event:` line. The usage and the final model come with the terminal
 *   event (`response.completed`, `response.incomplete` or `response.failed`, each carrying the whole response);
 *   `response.created` gives the model early; an `error` event is a failure. Only those events are parsed: the
 *   deltas in between cost the SSE framing only, and are counted by their `event:` line (`outputTokensSeen`). What
 *   OpenAI stored (the response's id and its output item ids, unless `store: false`) is known from the terminal event
 *   on (`stored()`), before the body ends.
 * - Background (`background: true`): a response still `queued` or `in_progress` when the body ends (a create answers
 *   at once; a stream may end before its terminal event) is `running`: its usage comes later. OpenAI keeps a
 *   background response for polling whatever `store` says, so it counts as stored too.
 *   https://platform.openai.com/docs/guides/background
 * https://platform.openai.com/docs/api-reference/responses-streaming
 */
import { createJsonTap } from '../shared/create-json-tap.ts'
import { SseParser, type SseEvent } from '../shared/parse-sse.ts'
import type { Usage } from '../spec/chat-types.ts'
import type { ForwardEnd, ForwardSummary, ForwardTap } from '../spec/provider-adapter.ts'
import { convertOpenAIResponsesUsage } from './convert-openai-usage.ts'

type Learned = {
  usage: Usage | null
  model?: string
  error?: { message: string; type?: string }
  stored?: { id: string; itemIds: string[] }
  running?: { id: string }
}

/** Statuses of a response not finished yet. */
const unfinished = new Set(['queued', 'in_progress'])

const record = (value: unknown): Record<string, unknown> | null =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The failure a Responses error object (`{code, message}`, or `{type, message}` in an error body) reports. */
const errorOf = (
  error: Record<string, unknown> | null,
  kind: 'code' | 'type'
): Learned['error'] | undefined => {
  if (!error || typeof error.message !== 'string') return undefined
  const type = error[kind]
  return typeof type === 'string' ? { message: error.message, type } : { message: error.message }
}

/**
 * A `Response` object (the body, or the `response` of a stream event); `final` when it is the whole answer (the body,
 * or a stream's terminal event), whose output item ids are then known.
 */
const learnResponse = (
  response: Record<string, unknown>,
  learned: Learned,
  final: boolean
): void => {
  if (typeof response.model === 'string') learned.model = response.model
  const usage = convertOpenAIResponsesUsage(response.usage)
  if (usage) learned.usage = usage
  learned.error = errorOf(record(response.error), 'code') ?? learned.error
  const background = response.background === true
  if (background && typeof response.id === 'string') {
    if (typeof response.status === 'string' && unfinished.has(response.status))
      learned.running = { id: response.id }
    else learned.running = undefined
  }
  // What OpenAI stores (unless `store: false`, which the response echoes, outside background mode): the id, and the
  // ids of its output items.
  if (
    final &&
    typeof response.id === 'string' &&
    (response.store !== false || background) &&
    Array.isArray(response.output)
  ) {
    const itemIds: string[] = []
    for (const item of response.output) {
      const id = record(item)?.id
      if (typeof id === 'string') itemIds.push(id)
    }
    learned.stored = { id: response.id, itemIds }
  }
}

/** An error body (`{"error": {...}}`) rather than a `Response`. */
const learnBody = (value: unknown, learned: Learned): void => {
  const body = record(value)
  if (!body) return
  if (body.object === 'response') {
    learnResponse(body, learned, true)
    return
  }
  learned.error = errorOf(record(body.error), 'type') ?? learned.error
}

const summary = (learned: Learned): ForwardSummary => {
  const out: ForwardSummary = { usage: learned.usage }
  if (learned.model !== undefined) out.model = learned.model
  if (learned.error) out.error = learned.error
  if (learned.stored) out.stored = learned.stored
  if (learned.running) out.running = learned.running
  return out
}

/** The events worth a parse, by their `event:` line. */
const terminal = new Set(['response.completed', 'response.incomplete', 'response.failed'])

/**
 * The delta events that carry generated text, for `outputTokensSeen`: OpenAI streams about one token per delta event,
 * so their number estimates the output tokens that passed, read from the `event:` line alone. Not the audio events
 * (`response.audio.delta`, `response.audio.transcript.delta`: audio tokens go by the sound's length) nor partial
 * images. Reasoning a model does not show (its `reasoning_tokens`) streams no delta at all: the estimate misses it.
 * https://platform.openai.com/docs/api-reference/responses-streaming
 */
const generatedDeltas = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
  'response.mcp_call_arguments.delta',
  'response.code_interpreter_call_code.delta',
])

const createStreamTap = (): ForwardTap => {
  const parser = new SseParser()
  const learned: Learned = { usage: null }
  let ended = false
  /** The delta events that carried generated text (`generatedDeltas`). */
  let deltas = 0
  const handle = (events: SseEvent[]): void => {
    for (const event of events) {
      const type = event.event
      if (type === undefined) continue
      if (generatedDeltas.has(type)) {
        deltas += 1
        continue
      }
      const final = terminal.has(type)
      if (final) ended = true
      if (final || (type === 'response.created' && learned.model === undefined)) {
        const response = record(record(parseJson(event.data))?.response)
        if (response) learnResponse(response, learned, final)
      } else if (type === 'error') {
        learned.error = errorOf(record(parseJson(event.data)), 'code') ?? learned.error
      }
    }
  }
  return {
    write(chunk) {
      try {
        handle(parser.push(chunk))
      } catch {
        // A tap never breaks the response it watches.
      }
    },
    finish() {
      try {
        handle(parser.end())
      } catch {
        // Whatever was learned so far is returned.
      }
      const out = summary(learned)
      out.outputTokensSeen = deltas
      return out
    },
    stored: () => learned.stored ?? null,
    // A background response may end its stream before its terminal event: it runs on, and is asked for later.
    end: (): ForwardEnd =>
      learned.error !== undefined
        ? { kind: 'error', error: learned.error }
        : ended || learned.running !== undefined || terminal.has(parser.pendingEvent ?? '')
          ? { kind: 'complete' }
          : { kind: 'cut' },
    inError: () => {
      if (learned.error !== undefined) return true
      const pending = parser.pendingEvent
      return pending === 'error' || pending === 'response.failed'
    },
  }
}

export const createOpenAIResponsesTap = (options: { stream: boolean }): ForwardTap =>
  options.stream
    ? createStreamTap()
    : createJsonTap((value) => {
        const learned: Learned = { usage: null }
        learnBody(value, learned)
        return summary(learned)
      })
