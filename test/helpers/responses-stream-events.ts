/**
 * The event stream of the Responses API (https://platform.openai.com/docs/api-reference/responses-streaming) for a
 * response the mock has already decided, derived from the final `Response` so that the deltas, the `.done` events and
 * the closing `response.completed` always agree. Shapes and key order follow recorded live traffic (vercel/ai
 * `packages/openai/src/responses/__fixtures__`: `issue-20047-openai-responses`, `issue-19493-gpt-5.1-tool-call`,
 * `openai-reasoning-encrypted-content`, `openai-error`); see ../../../shared/specs/wire-notes.md §9.
 *
 * Order: `response.created`, `response.in_progress`, then per output item `response.output_item.added`, its parts and
 * deltas, `response.output_item.done`; last `response.completed` (or `response.incomplete`) with the whole response.
 * Each event has an `event:` line equal to its `type` and a `sequence_number` counting from 0. No `data: [DONE]`.
 */
import { splitIntoPieces } from './mock-upstream-server.ts'
import type { InBandErrorFault } from './mock-upstream-server.ts'

type Item = Record<string, unknown>
export type ResponsesStreamEvent = Item & { type: string; sequence_number: number }

/** One SSE frame: `event: <type>` and `data: <json>`. */
export const sseFrame = (event: ResponsesStreamEvent): string =>
  `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

/**
 * What the live API adds to delta events unless `stream_options.include_obfuscation` is false: padding that evens out
 * event sizes. Deterministic here.
 */
const padding = (delta: string): { obfuscation: string } => ({
  obfuscation: 'Mq7xK2pL9vZ4wN8c'.slice(0, Math.max(1, 16 - delta.length)),
})

export const responsesStreamEvents = (options: {
  /** The response as `response.created` and `response.in_progress` show it: `in_progress`, no output, no usage. */
  started: Item
  /** The final response (`completed` or `incomplete`). */
  response: Item & { output: Item[] }
  /** Pieces a text is cut into. */
  pieces: number
  obfuscate: boolean
  /** Whether function arguments come as deltas before `.done`, or only in `.done`. */
  argumentDeltas: boolean
}): ResponsesStreamEvent[] => {
  const events: ResponsesStreamEvent[] = []
  const push = (event: Item & { type: string }) => {
    events.push({ ...event, sequence_number: events.length })
  }
  const delta = (piece: string) => ({ delta: piece, ...(options.obfuscate ? padding(piece) : {}) })
  const deltas = (text: string, pieces: number) =>
    splitIntoPieces(text, pieces).filter((piece) => piece !== '')

  push({ type: 'response.created', response: options.started })
  push({ type: 'response.in_progress', response: options.started })
  options.response.output.forEach((item, output_index) => {
    const item_id = String(item.id)
    if (item.type === 'message') {
      push({
        type: 'response.output_item.added',
        item: { ...item, status: 'in_progress', content: [] },
        output_index,
      })
      ;(item.content as Item[]).forEach((part, content_index) => {
        const text = String(part.text)
        const where = { content_index, item_id }
        push({
          type: 'response.content_part.added',
          ...where,
          output_index,
          part: { ...part, text: '' },
        })
        for (const piece of deltas(text, options.pieces)) {
          push({
            type: 'response.output_text.delta',
            content_index,
            ...delta(piece),
            item_id,
            logprobs: [],
            output_index,
          })
        }
        push({ type: 'response.output_text.done', ...where, logprobs: [], output_index, text })
        push({ type: 'response.content_part.done', ...where, output_index, part })
      })
    } else if (item.type === 'function_call') {
      const args = String(item.arguments)
      push({
        type: 'response.output_item.added',
        item: { ...item, status: 'in_progress', arguments: '' },
        output_index,
      })
      if (options.argumentDeltas) {
        for (const piece of deltas(args, 3)) {
          push({
            type: 'response.function_call_arguments.delta',
            ...delta(piece),
            item_id,
            output_index,
          })
        }
      }
      push({
        type: 'response.function_call_arguments.done',
        arguments: args,
        item_id,
        name: item.name,
        output_index,
      })
    } else if (item.type === 'reasoning') {
      push({ type: 'response.output_item.added', item: { ...item, summary: [] }, output_index })
      ;(item.summary as Item[]).forEach((part, summary_index) => {
        const text = String(part.text)
        const where = { item_id, output_index, summary_index }
        push({
          type: 'response.reasoning_summary_part.added',
          ...where,
          part: { ...part, text: '' },
        })
        for (const piece of deltas(text, options.pieces)) {
          push({ type: 'response.reasoning_summary_text.delta', ...where, ...delta(piece) })
        }
        push({ type: 'response.reasoning_summary_text.done', ...where, text })
        push({ type: 'response.reasoning_summary_part.done', ...where, part })
      })
    } else {
      push({ type: 'response.output_item.added', item, output_index })
    }
    push({ type: 'response.output_item.done', item, output_index })
  })
  const closing =
    options.response.status === 'incomplete' ? 'response.incomplete' : 'response.completed'
  push({ type: closing, response: options.response })
  return events
}

/**
 * How the live API ends a stream that fails after the first byte (vercel/ai `openai-error.1.chunks.txt`): an `error`
 * event, then `response.failed` carrying the response with `status: "failed"`, its `error` and the items finished so
 * far. The live `error` event nests `{type, code, message, param}` under `error`, which the official SDKs raise as an
 * `APIError`; the OpenAPI document's `ResponseErrorEvent` has `code`, `message` and `param` at the top level. The mock
 * sends both, so the event validates and clients reading either shape find the error.
 */
export const responsesFailureFrames = (options: {
  sent: ResponsesStreamEvent[]
  started: Item
  fault: InBandErrorFault
}): string => {
  const { fault, sent } = options
  const type = fault.error?.type ?? 'server_error'
  const code = fault.error?.code ?? 'server_error'
  const message =
    fault.error?.message ??
    'An error occurred while processing your request. You can retry your request, or contact us through our help center at help.openai.com if the error persists.'
  const failWith = fault.failWith ?? 'both'
  const frames: ResponsesStreamEvent[] = []
  if (failWith !== 'response.failed') {
    frames.push({
      type: 'error',
      sequence_number: sent.length,
      code,
      message,
      param: null,
      error: { type, code, message, param: null },
    })
  }
  if (failWith !== 'error') {
    const finished = sent.flatMap((event) =>
      event.type === 'response.output_item.done' ? [event.item as Item] : []
    )
    frames.push({
      type: 'response.failed',
      sequence_number: sent.length + frames.length,
      response: {
        ...options.started,
        status: 'failed',
        error: { code, message },
        output: finished,
      },
    })
  }
  return frames.map(sseFrame).join('')
}
