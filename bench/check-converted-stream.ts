/**
 * The checks of the `streaming-converted` scenario: every stream the gateway converted from the mock's chat
 * completion chunks must come back whole, in the client's API, carrying every chunk the upstream sent and its usage.
 *
 * - Responses API (https://platform.openai.com/docs/api-reference/responses-streaming): each event with its `event:`
 *   line naming the `type` of its data and a `sequence_number` counting from 0, in exactly this order:
 *   `response.created`, `response.in_progress`, `response.output_item.added`, `response.content_part.added`, one
 *   `response.output_text.delta` per upstream content chunk (with that chunk's text), `response.output_text.done`,
 *   `response.content_part.done`, `response.output_item.done`, then `response.completed` with the whole text and the
 *   upstream's usage.
 * - Messages API (https://docs.anthropic.com/en/docs/build-with-claude/streaming): `message_start`,
 *   `content_block_start`, one `text_delta` per upstream content chunk, `content_block_stop`, `message_delta` with
 *   `end_turn` and the upstream's usage, `message_stop` last; `ping` events may come anywhere.
 */
import { benchSettings, mockAnswer } from './bench-settings.ts'
import { pieces, usageFor } from './lean-mock-upstream.ts'

/** What the upstream sent: the text of each content chunk, and the usage of its usage chunk. */
export type ConvertedStreamExpectation = {
  pieces: readonly string[]
  usage: { input: number; output: number }
}

/** What the bench's mock streams (`lean-mock-upstream.ts`) for the benchmark's request. */
export const mockStreamExpectation = (): ConvertedStreamExpectation => {
  const usage = usageFor(mockAnswer)
  return {
    pieces: pieces(mockAnswer, benchSettings.streamChunks),
    usage: { input: usage.prompt_tokens, output: usage.completion_tokens },
  }
}

type SseEvent = { name: string | null; data: Record<string, unknown> }

/** The events of a whole SSE body, each with its `event:` name and its data parsed, or why the body is not that. */
export const readSseEvents = (body: string): SseEvent[] | string => {
  if (!body.endsWith('\n\n')) return 'the body does not end with a whole event'
  const events: SseEvent[] = []
  for (const block of body.slice(0, -2).split('\n\n')) {
    let name: string | null = null
    let data: string | null = null
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      const value = colon === -1 ? '' : line.slice(line[colon + 1] === ' ' ? colon + 2 : colon + 1)
      if (field === 'event') name = value
      else if (field === 'data') data = data === null ? value : `${data}\n${value}`
      else
        return `event ${events.length}: a line that is neither event nor data: ${line.slice(0, 80)}`
    }
    if (data === null) return `event ${events.length} (${name ?? 'no name'}) has no data`
    let parsed: unknown
    try {
      parsed = JSON.parse(data)
    } catch {
      return `event ${events.length} (${name ?? 'no name'}): data is not JSON: ${data.slice(0, 80)}`
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return `event ${events.length} (${name ?? 'no name'}): data is not an object`
    events.push({ name, data: parsed as Record<string, unknown> })
  }
  return events
}

const member = (value: unknown, ...path: (string | number)[]): unknown => {
  let current = value
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined
    current = (current as Record<string | number, unknown>)[key]
  }
  return current
}

/** The first place two lists of event types part, or `null`; `counted` says which events the index counts. */
const sequenceProblem = (
  types: readonly string[],
  expected: readonly string[],
  counted = ''
): string | null => {
  for (let index = 0; index < Math.max(types.length, expected.length); index += 1) {
    if (types[index] !== expected[index]) {
      return `event ${index}${counted} is ${types[index] ?? 'missing'}, expected ${expected[index] ?? 'the end of the stream'}`
    }
  }
  return null
}

/** The deltas' texts against the upstream's content chunks, one for one. */
const deltasProblem = (
  kind: string,
  texts: readonly unknown[],
  expected: ConvertedStreamExpectation
): string | null => {
  if (texts.length !== expected.pieces.length)
    return `${texts.length} ${kind} events for ${expected.pieces.length} upstream content chunks`
  const index = texts.findIndex((text, at) => text !== expected.pieces[at])
  return index === -1
    ? null
    : `${kind} ${index} is ${JSON.stringify(texts[index])}, the upstream sent ${JSON.stringify(expected.pieces[index])}`
}

const usageProblem = (
  where: string,
  input: unknown,
  output: unknown,
  expected: ConvertedStreamExpectation
): string | null =>
  input === expected.usage.input && output === expected.usage.output
    ? null
    : `${where} has usage ${String(input)} in / ${String(output)} out, the upstream's is ${expected.usage.input} / ${expected.usage.output}`

/** Why a Responses API stream is not the conversion of the upstream's stream, or `null`. */
export const responsesStreamProblem = (
  body: string,
  expected: ConvertedStreamExpectation
): string | null => {
  const events = readSseEvents(body)
  if (typeof events === 'string') return events
  const types: string[] = []
  for (const [index, { name, data }] of events.entries()) {
    const type = String(data.type)
    if (name !== type) return `event ${index}: "event: ${name ?? ''}" carries a ${type}`
    if (data.sequence_number !== index)
      return `event ${index} (${type}) has sequence_number ${String(data.sequence_number)}`
    types.push(type)
  }
  const deltas = events.filter(({ data }) => data.type === 'response.output_text.delta')
  const problem =
    deltasProblem(
      'response.output_text.delta',
      deltas.map(({ data }) => data.delta),
      expected
    ) ??
    sequenceProblem(types, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...expected.pieces.map(() => 'response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
  if (problem !== null) return problem
  const response = events[events.length - 1].data.response
  const text = expected.pieces.join('')
  if (member(response, 'status') !== 'completed')
    return `response.completed has status ${String(member(response, 'status'))}`
  if (member(response, 'output', 0, 'content', 0, 'text') !== text)
    return "response.completed's output is not the upstream's text"
  return usageProblem(
    'response.completed',
    member(response, 'usage', 'input_tokens'),
    member(response, 'usage', 'output_tokens'),
    expected
  )
}

/** Why a Messages API stream is not the conversion of the upstream's stream, or `null`. */
export const messagesStreamProblem = (
  body: string,
  expected: ConvertedStreamExpectation
): string | null => {
  const all = readSseEvents(body)
  if (typeof all === 'string') return all
  for (const [index, { name, data }] of all.entries()) {
    if (name !== data.type)
      return `event ${index}: "event: ${name ?? ''}" carries a ${String(data.type)}`
  }
  const events = all.filter(({ data }) => data.type !== 'ping')
  const deltas = events.filter(({ data }) => data.type === 'content_block_delta')
  const problem =
    deltasProblem(
      'text_delta',
      deltas.map(({ data }) =>
        member(data, 'delta', 'type') === 'text_delta' ? member(data, 'delta', 'text') : undefined
      ),
      expected
    ) ??
    sequenceProblem(
      events.map(({ data }) => String(data.type)),
      [
        'message_start',
        'content_block_start',
        ...expected.pieces.map(() => 'content_block_delta'),
        'content_block_stop',
        'message_delta',
        'message_stop',
      ],
      ' (pings aside)'
    )
  if (problem !== null) return problem
  const delta = events[events.length - 2].data
  if (member(delta, 'delta', 'stop_reason') !== 'end_turn')
    return `message_delta has stop_reason ${String(member(delta, 'delta', 'stop_reason'))}`
  return usageProblem(
    'message_delta',
    member(delta, 'usage', 'input_tokens'),
    member(delta, 'usage', 'output_tokens'),
    expected
  )
}
