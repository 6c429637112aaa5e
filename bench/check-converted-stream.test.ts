import { describe, expect, it } from 'vitest'
import { benchSettings, mockAnswer } from './bench-settings.ts'
import {
  messagesStreamProblem,
  mockStreamExpectation,
  readSseEvents,
  responsesStreamProblem,
} from './check-converted-stream.ts'
import type { ConvertedStreamExpectation } from './check-converted-stream.ts'
import { streamEvents } from './lean-mock-upstream.ts'

const expected: ConvertedStreamExpectation = {
  pieces: ['Hel', 'lo', '!'],
  usage: { input: 31, output: 2 },
}

const sse = (events: { type: string; [key: string]: unknown }[]): string =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('')

const responsesEvents = (pieces: readonly string[] = expected.pieces) => {
  const text = pieces.join('')
  const item = { id: 'msg_1', type: 'message', role: 'assistant' }
  const part = { type: 'output_text', annotations: [], logprobs: [] }
  const events: { type: string; [key: string]: unknown }[] = [
    { type: 'response.created', response: { id: 'resp_1', status: 'in_progress', output: [] } },
    { type: 'response.in_progress', response: { id: 'resp_1', status: 'in_progress', output: [] } },
    { type: 'response.output_item.added', output_index: 0, item: { ...item, content: [] } },
    { type: 'response.content_part.added', item_id: 'msg_1', part: { ...part, text: '' } },
    ...pieces.map((delta) => ({ type: 'response.output_text.delta', item_id: 'msg_1', delta })),
    { type: 'response.output_text.done', item_id: 'msg_1', text },
    { type: 'response.content_part.done', item_id: 'msg_1', part: { ...part, text } },
    {
      type: 'response.output_item.done',
      output_index: 0,
      item: { ...item, content: [{ ...part, text }] },
    },
    {
      type: 'response.completed',
      response: {
        id: 'resp_1',
        status: 'completed',
        output: [{ ...item, content: [{ ...part, text }] }],
        usage: { input_tokens: 31, output_tokens: 2, total_tokens: 33 },
      },
    },
  ]
  return events.map((event, index) => ({ ...event, sequence_number: index }))
}

const messagesEvents = (pieces: readonly string[] = expected.pieces) => [
  {
    type: 'message_start',
    message: { id: 'msg_1', content: [], usage: { input_tokens: 39, output_tokens: 1 } },
  },
  { type: 'ping' },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  ...pieces.map((text) => ({
    type: 'content_block_delta',
    index: 0,
    delta: { type: 'text_delta', text },
  })),
  { type: 'content_block_stop', index: 0 },
  {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { input_tokens: 31, output_tokens: 2 },
  },
  { type: 'message_stop' },
]

describe('mockStreamExpectation', () => {
  it("is the content and the usage of the mock's own stream for the benchmark's request", () => {
    const chunks = streamEvents({
      answer: mockAnswer,
      streamChunks: benchSettings.streamChunks,
      includeUsage: true,
    })
      .map((event) => event.toString('utf8').slice('data: '.length).trim())
      .filter((data) => data !== '[DONE]')
      .map(
        (data) =>
          JSON.parse(data) as {
            choices: { delta: { content?: string } }[]
            usage: { prompt_tokens: number; completion_tokens: number } | null
          }
      )
    const content = chunks
      .slice(1)
      .flatMap((chunk) => (chunk.choices[0]?.delta.content === undefined ? [] : [chunk]))
      .map((chunk) => chunk.choices[0].delta.content)
    const usage = chunks.at(-1)?.usage
    expect(mockStreamExpectation()).toEqual({
      pieces: content,
      usage: { input: usage?.prompt_tokens, output: usage?.completion_tokens },
    })
    expect(content).toHaveLength(benchSettings.streamChunks)
    expect(content.join('')).toBe(mockAnswer)
  })
})

describe('readSseEvents', () => {
  it('reads event names and data (several data lines joined, comments skipped)', () => {
    expect(readSseEvents(': hi\nevent: a\ndata: {"x":\ndata: 1}\n\ndata:{"y":2}\n\n')).toEqual([
      { name: 'a', data: { x: 1 } },
      { name: null, data: { y: 2 } },
    ])
  })

  it('names what is wrong with a body that is not whole events of JSON objects', () => {
    expect(readSseEvents('event: a\ndata: {}\n\nevent: b\ndata: {')).toBe(
      'the body does not end with a whole event'
    )
    expect(readSseEvents('event: a\n\n')).toBe('event 0 (a) has no data')
    expect(readSseEvents('event: a\ndata: {"x"\n\n')).toMatch(/^event 0 \(a\): data is not JSON/)
    expect(readSseEvents('data: [1]\n\n')).toBe('event 0 (no name): data is not an object')
    expect(readSseEvents('id: 3\ndata: {}\n\n')).toMatch(/neither event nor data: id: 3/)
  })
})

describe('responsesStreamProblem', () => {
  it('accepts the whole event sequence, one delta per upstream chunk, with the upstream usage', () => {
    expect(responsesStreamProblem(sse(responsesEvents()), expected)).toBeNull()
  })

  it('finds a lost, merged or altered chunk', () => {
    expect(responsesStreamProblem(sse(responsesEvents(['Hel', 'lo!'])), expected)).toBe(
      '2 response.output_text.delta events for 3 upstream content chunks'
    )
    expect(responsesStreamProblem(sse(responsesEvents(['Hel', 'LO', '!'])), expected)).toBe(
      'response.output_text.delta 1 is "LO", the upstream sent "lo"'
    )
  })

  it('finds a stream cut short, events out of order, and broken sequence numbers or event lines', () => {
    const events = responsesEvents()
    expect(responsesStreamProblem(sse(events.slice(0, -1)), expected)).toBe(
      'event 10 is missing, expected response.completed'
    )
    const swapped = [...events]
    ;[swapped[2], swapped[3]] = [swapped[3], swapped[2]]
    const renumbered = swapped.map((event, index) => ({ ...event, sequence_number: index }))
    expect(responsesStreamProblem(sse(renumbered), expected)).toBe(
      'event 2 is response.content_part.added, expected response.output_item.added'
    )
    const gap = events.map((event, index) => ({
      ...event,
      sequence_number: index < 5 ? index : index + 1,
    }))
    expect(responsesStreamProblem(sse(gap), expected)).toBe(
      'event 5 (response.output_text.delta) has sequence_number 6'
    )
    const misnamed = sse(events).replace('event: response.in_progress', 'event: response.created')
    expect(responsesStreamProblem(misnamed, expected)).toBe(
      'event 1: "event: response.created" carries a response.in_progress'
    )
    expect(responsesStreamProblem(sse(events).slice(0, -1), expected)).toBe(
      'the body does not end with a whole event'
    )
  })

  it('requires response.completed to carry the whole output and the upstream usage', () => {
    const events = responsesEvents()
    const last = events[events.length - 1] as unknown as { response: Record<string, unknown> }
    last.response.usage = { input_tokens: 31, output_tokens: 0 }
    expect(responsesStreamProblem(sse(events), expected)).toBe(
      "response.completed has usage 31 in / 0 out, the upstream's is 31 / 2"
    )
    last.response.output = []
    expect(responsesStreamProblem(sse(events), expected)).toBe(
      "response.completed's output is not the upstream's text"
    )
    last.response.status = 'incomplete'
    expect(responsesStreamProblem(sse(events), expected)).toBe(
      'response.completed has status incomplete'
    )
  })
})

describe('messagesStreamProblem', () => {
  it('accepts the whole event sequence, one text delta per upstream chunk, pings anywhere', () => {
    expect(messagesStreamProblem(sse(messagesEvents()), expected)).toBeNull()
    const pinged = messagesEvents()
    pinged.splice(4, 0, { type: 'ping' })
    expect(messagesStreamProblem(sse(pinged), expected)).toBeNull()
  })

  it('finds a lost or altered chunk and a stream that does not end with message_stop', () => {
    expect(messagesStreamProblem(sse(messagesEvents(['Hel', 'lo'])), expected)).toBe(
      '2 text_delta events for 3 upstream content chunks'
    )
    expect(messagesStreamProblem(sse(messagesEvents(['Hel', 'lo', '?'])), expected)).toBe(
      'text_delta 2 is "?", the upstream sent "!"'
    )
    expect(messagesStreamProblem(sse(messagesEvents().slice(0, -1)), expected)).toBe(
      'event 7 (pings aside) is missing, expected message_stop'
    )
    const misnamed = sse(messagesEvents()).replace('event: message_stop', 'event: ping')
    expect(messagesStreamProblem(misnamed, expected)).toBe(
      'event 8: "event: ping" carries a message_stop'
    )
  })

  it("requires message_delta to end the turn with the upstream's usage", () => {
    const events = messagesEvents()
    const delta = events[events.length - 2] as {
      delta: Record<string, unknown>
      usage: Record<string, unknown>
    }
    delta.usage = { output_tokens: 2 }
    expect(messagesStreamProblem(sse(events), expected)).toBe(
      "message_delta has usage undefined in / 2 out, the upstream's is 31 / 2"
    )
    delta.delta.stop_reason = 'max_tokens'
    expect(messagesStreamProblem(sse(events), expected)).toBe(
      'message_delta has stop_reason max_tokens'
    )
  })
})
