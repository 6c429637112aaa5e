import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import OpenAI, { APIError } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createChatResultAssembler } from '../../../providers/shared/assemble-chat-result.ts'
import type { ChatChunk, Usage } from '../../../providers/spec/chat-types.ts'
import {
  expectValidOpenAI,
  preloadOpenAIValidator,
} from '../../../test/helpers/openapi-validator.ts'
import { convertToResponsesResponse } from './convert-to-responses-response.ts'
import { decodeReasoningContent } from './reasoning-content.ts'
import {
  createResponsesSseSource,
  encodeResponsesErrorEvent,
  encodeResponsesSse,
  type ResponsesErrorDescription,
} from './encode-responses-sse.ts'
import type { ResponsesContext } from './responses-context.ts'

const usage: Usage = {
  inputTokens: 30,
  outputTokens: 12,
  cachedInputTokens: 20,
  cacheWriteInputTokens: null,
  reasoningTokens: 5,
}

const start: ChatChunk = {
  type: 'start',
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  model: 'claude-sonnet-4-5-20250929',
  created: 1754651500,
}

const stop: ChatChunk = {
  type: 'finish',
  choiceIndex: 0,
  finishReason: { unified: 'stop', raw: 'end_turn' },
}

const textChunks: ChatChunk[] = [
  start,
  { type: 'text-delta', choiceIndex: 0, delta: 'Hello' },
  { type: 'text-delta', choiceIndex: 0, delta: '' },
  { type: 'text-delta', choiceIndex: 0, delta: ', world' },
  stop,
  { type: 'usage', usage },
]

const toolChunks: ChatChunk[] = [
  start,
  { type: 'text-delta', choiceIndex: 0, delta: 'Checking.' },
  {
    type: 'tool-call-delta',
    choiceIndex: 0,
    index: 0,
    id: 'toolu_01',
    name: 'get_weather',
    argumentsDelta: '',
  },
  { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '{"city":' },
  { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '"Paris"}' },
  // The whole arguments in the first fragment, as some OpenAI-compatible servers send them.
  {
    type: 'tool-call-delta',
    choiceIndex: 0,
    index: 1,
    id: 'call_02',
    name: 'get_time',
    argumentsDelta: '{"tz":"UTC"}',
  },
  { type: 'usage', usage },
  { type: 'finish', choiceIndex: 0, finishReason: { unified: 'tool-calls', raw: 'tool_use' } },
]

const reasoningChunks: ChatChunk[] = [
  start,
  { type: 'reasoning-delta', choiceIndex: 0, delta: 'The user ' },
  { type: 'reasoning-delta', choiceIndex: 0, delta: 'greets me.' },
  { type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: 'EqQBsig1' },
  { type: 'text-delta', choiceIndex: 0, delta: 'Hi!' },
  stop,
  { type: 'usage', usage },
]

/** A model that begins to answer, then refuses: one message, a part for each (`output_text`, then `refusal`). */
const refusalChunks: ChatChunk[] = [
  start,
  { type: 'text-delta', choiceIndex: 0, delta: 'Well,' },
  { type: 'refusal-delta', choiceIndex: 0, delta: "I'm sorry, " },
  { type: 'refusal-delta', choiceIndex: 0, delta: "I can't help with that." },
  stop,
  { type: 'usage', usage },
]

const context = (body: Record<string, unknown> = {}): ResponsesContext => ({
  responseId: 'resp_67ccd3a9da748190baa7f1570fe91ac6',
  createdAt: 1754651499,
  body: { model: 'claude-sonnet', input: 'hi', ...body },
})

/** The caller's wording in production comes from the one error serializer; here, a plain one. */
const describeError = (error: unknown): ResponsesErrorDescription => ({
  code: error instanceof Error && error.message === 'rate limited' ? 'rate_limit_exceeded' : null,
  message: error instanceof Error ? error.message : 'unknown',
  type: 'server_error',
})

const sourceOf = (
  chunks: ChatChunk[],
  failWith?: unknown
): ReadableStream<ChatChunk> & { cancelled: () => unknown } => {
  let cancelledWith: unknown
  let position = 0
  const stream = new ReadableStream<ChatChunk>({
    pull(controller) {
      if (position < chunks.length) controller.enqueue(chunks[position++])
      else if (failWith !== undefined) controller.error(failWith)
      else controller.close()
    },
    cancel(reason) {
      cancelledWith = reason ?? 'cancelled'
    },
  })
  return Object.assign(stream, { cancelled: () => cancelledWith })
}

const encode = (
  chunks: ChatChunk[],
  options: { failWith?: unknown; context?: ResponsesContext } = {}
): ReadableStream<Uint8Array> =>
  encodeResponsesSse(sourceOf(chunks, options.failWith), {
    context: options.context ?? context(),
    describeError,
  })

const schemaByType: Record<string, string> = {
  'response.created': 'ResponseCreatedEvent',
  'response.in_progress': 'ResponseInProgressEvent',
  'response.completed': 'ResponseCompletedEvent',
  'response.incomplete': 'ResponseIncompleteEvent',
  'response.failed': 'ResponseFailedEvent',
  error: 'ResponseErrorEvent',
  'response.output_item.added': 'ResponseOutputItemAddedEvent',
  'response.output_item.done': 'ResponseOutputItemDoneEvent',
  'response.content_part.added': 'ResponseContentPartAddedEvent',
  'response.content_part.done': 'ResponseContentPartDoneEvent',
  'response.output_text.delta': 'ResponseTextDeltaEvent',
  'response.output_text.done': 'ResponseTextDoneEvent',
  'response.refusal.delta': 'ResponseRefusalDeltaEvent',
  'response.refusal.done': 'ResponseRefusalDoneEvent',
  'response.function_call_arguments.delta': 'ResponseFunctionCallArgumentsDeltaEvent',
  'response.function_call_arguments.done': 'ResponseFunctionCallArgumentsDoneEvent',
  'response.reasoning_summary_part.added': 'ResponseReasoningSummaryPartAddedEvent',
  'response.reasoning_summary_part.done': 'ResponseReasoningSummaryPartDoneEvent',
  'response.reasoning_summary_text.delta': 'ResponseReasoningSummaryTextDeltaEvent',
  'response.reasoning_summary_text.done': 'ResponseReasoningSummaryTextDoneEvent',
}

type Event = Record<string, unknown> & { type: string; sequence_number: number }

/**
 * The events of a stream, checked on the way: each frame is `event: <type>` then one `data:` line, the type matches,
 * the sequence numbers count from 0, and every event is valid against its schema in the OpenAPI document (and against
 * `ResponseStreamEvent`), the response of the terminal ones against `Response`.
 */
const eventsOf = async (stream: ReadableStream<Uint8Array>): Promise<Event[]> => {
  const text = await new Response(stream).text()
  expect(text.endsWith('\n\n')).toBe(true)
  const events = text
    .slice(0, -2)
    .split('\n\n')
    .map((raw) => {
      const match = /^event: ([a-z_.]+)\ndata: ([^\n]+)$/.exec(raw)
      expect(match, raw).not.toBeNull()
      const event = JSON.parse(match![2]) as Event
      expect(event.type).toBe(match![1])
      return event
    })
  events.forEach((event, index) => {
    expect(event.sequence_number).toBe(index)
    const schema = schemaByType[event.type]
    expect(schema, event.type).toBeDefined()
    expectValidOpenAI(schema, event)
    expectValidOpenAI('ResponseStreamEvent', event)
    if ('response' in event) expectValidOpenAI('Response', event.response)
  })
  return events
}

const typesOf = (events: Event[]): string[] => events.map((event) => event.type)

type Item = Record<string, unknown> & { id: string; type: string }
type FinalResponse = Record<string, unknown> & { output: Item[]; status: string }

const itemOf = (event: Event): Item => event.item as Item

const finalOf = (events: Event[]): FinalResponse => events.at(-1)!.response as FinalResponse

const withoutIds = (items: Item[]): unknown =>
  items.map((item) => ({ ...item, id: item.id.slice(0, item.id.indexOf('_')) }))

beforeAll(() => preloadOpenAIValidator())

describe('encodeResponsesSse', () => {
  it('streams a text answer in the exact event order, ending with the whole Response', async () => {
    const events = await eventsOf(encode(textChunks))
    expect(typesOf(events)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    const created = events[0].response as FinalResponse
    expect(created).toMatchObject({
      id: 'resp_67ccd3a9da748190baa7f1570fe91ac6',
      object: 'response',
      created_at: 1754651499,
      status: 'in_progress',
      completed_at: null,
      model: 'claude-sonnet-4-5-20250929',
      output: [],
      tools: [],
      store: true,
    })
    expect(created).not.toHaveProperty('usage')
    expect(events[1].response).toEqual(created)

    const item = itemOf(events[2])
    expect(item).toEqual({
      id: expect.stringMatching(/^msg_[0-9a-f]{48}$/),
      type: 'message',
      status: 'in_progress',
      content: [],
      role: 'assistant',
    })
    const at = { item_id: item.id, output_index: 0, content_index: 0 }
    const emptyPart = { type: 'output_text', text: '', annotations: [], logprobs: [] }
    expect(events[3]).toMatchObject({ ...at, part: emptyPart })
    expect(events[4]).toEqual({
      type: 'response.output_text.delta',
      ...at,
      delta: 'Hello',
      logprobs: [],
      sequence_number: 4,
    })
    expect(events[5]).toMatchObject({ ...at, delta: ', world' })
    expect(events[6]).toMatchObject({ ...at, text: 'Hello, world', logprobs: [] })
    expect(events[7]).toMatchObject({ ...at, part: { ...emptyPart, text: 'Hello, world' } })
    const doneItem = {
      ...item,
      status: 'completed',
      content: [{ ...emptyPart, text: 'Hello, world' }],
    }
    expect(events[8]).toMatchObject({ output_index: 0, item: doneItem })

    const final = finalOf(events)
    expect(final).toMatchObject({
      id: 'resp_67ccd3a9da748190baa7f1570fe91ac6',
      status: 'completed',
      error: null,
      incomplete_details: null,
      output: [doneItem],
      usage: {
        input_tokens: 30,
        input_tokens_details: { cached_tokens: 20, cache_write_tokens: 0 },
        output_tokens: 12,
        output_tokens_details: { reasoning_tokens: 5 },
        total_tokens: 42,
      },
    })
    expect(final.completed_at).toBeGreaterThanOrEqual(1754651499)
    expect(final).not.toHaveProperty('output_text')
  })

  it('streams function calls one after the other, arguments.done always carrying the whole arguments', async () => {
    const events = await eventsOf(encode(toolChunks))
    expect(typesOf(events)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ])
    const weather = itemOf(events[8])
    expect(events[8].output_index).toBe(1)
    expect(weather).toEqual({
      id: expect.stringMatching(/^fc_[0-9a-f]{48}$/),
      type: 'function_call',
      status: 'in_progress',
      arguments: '',
      call_id: 'toolu_01',
      name: 'get_weather',
    })
    expect(events[9]).toEqual({
      type: 'response.function_call_arguments.delta',
      item_id: weather.id,
      output_index: 1,
      delta: '{"city":',
      sequence_number: 9,
    })
    expect(events[11]).toMatchObject({
      item_id: weather.id,
      output_index: 1,
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
    })
    expect(events[12]).toMatchObject({
      output_index: 1,
      item: { ...weather, status: 'completed', arguments: '{"city":"Paris"}' },
    })
    expect(events[13]).toMatchObject({
      output_index: 2,
      item: { type: 'function_call', call_id: 'call_02', name: 'get_time', arguments: '' },
    })
    expect(events[15]).toMatchObject({ output_index: 2, arguments: '{"tz":"UTC"}' })
    const final = finalOf(events)
    expect(final.status).toBe('completed')
    expect(final.output.map((item) => [item.type, item.arguments])).toEqual([
      ['message', undefined],
      ['function_call', '{"city":"Paris"}'],
      ['function_call', '{"tz":"UTC"}'],
    ])
  })

  it('ends a call that got no argument fragment with arguments.done all the same', async () => {
    const events = await eventsOf(
      encode([
        start,
        {
          type: 'tool-call-delta',
          choiceIndex: 0,
          index: 0,
          id: 'call_1',
          name: 'ping',
          argumentsDelta: '',
        },
        {
          type: 'finish',
          choiceIndex: 0,
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        },
      ])
    )
    expect(typesOf(events).slice(2)).toEqual([
      'response.output_item.added',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(events[3]).toMatchObject({ name: 'ping', arguments: '' })
  })

  it('answers a namespace function with its namespace and its own name', async () => {
    const events = await eventsOf(
      encode(
        [
          start,
          {
            type: 'tool-call-delta',
            choiceIndex: 0,
            index: 0,
            id: 'toolu_1',
            name: 'files__read',
            argumentsDelta: '{}',
          },
          {
            type: 'finish',
            choiceIndex: 0,
            finishReason: { unified: 'tool-calls', raw: 'tool_use' },
          },
        ],
        {
          context: {
            ...context(),
            toolName: (flattened) => ({ namespace: 'files', name: flattened.slice(7) }),
          },
        }
      )
    )
    expect(events[2]).toMatchObject({
      item: { namespace: 'files', name: 'read', call_id: 'toolu_1' },
    })
    expect(events[4]).toMatchObject({ type: 'response.function_call_arguments.done', name: 'read' })
    expect(finalOf(events).output[0]).toMatchObject({ namespace: 'files', name: 'read' })
  })

  it('streams reasoning as a summary before the message, the signature in encrypted_content', async () => {
    const events = await eventsOf(encode(reasoningChunks))
    expect(typesOf(events)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    const reasoning = itemOf(events[2])
    expect(reasoning).toEqual({
      id: expect.stringMatching(/^rs_[0-9a-f]{48}$/),
      type: 'reasoning',
      summary: [],
    })
    const at = { item_id: reasoning.id, output_index: 0, summary_index: 0 }
    expect(events[3]).toMatchObject({ ...at, part: { type: 'summary_text', text: '' } })
    expect(events[4]).toMatchObject({ ...at, delta: 'The user ' })
    expect(events[6]).toMatchObject({ ...at, text: 'The user greets me.' })
    expect(events[7]).toMatchObject({
      ...at,
      part: { type: 'summary_text', text: 'The user greets me.' },
    })
    const done = itemOf(events[8]) as Item & { encrypted_content: string }
    expect(done).toEqual({
      id: reasoning.id,
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'The user greets me.' }],
      encrypted_content: expect.stringMatching(/^gatehouse:reasoning:v1:/),
    })
    expect(decodeReasoningContent(done.encrypted_content)).toEqual({ signature: 'EqQBsig1' })
    expect(events[9].output_index).toBe(1)
    expect(finalOf(events).output.map((item) => item.type)).toEqual(['reasoning', 'message'])
  })

  it('starts a new reasoning item after a signature, and writes one with no text without summary events', async () => {
    const events = await eventsOf(
      encode([
        start,
        { type: 'reasoning-delta', choiceIndex: 0, delta: 'first' },
        { type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: 'sig1' },
        { type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: 'sig2' },
        { type: 'text-delta', choiceIndex: 0, delta: 'ok' },
        stop,
      ])
    )
    const output = finalOf(events).output
    expect(output.map((item) => item.type)).toEqual(['reasoning', 'reasoning', 'message'])
    expect(output[1].summary).toEqual([])
    expect(decodeReasoningContent(output[0].encrypted_content as string)).toEqual({
      signature: 'sig1',
    })
    expect(decodeReasoningContent(output[1].encrypted_content as string)).toEqual({
      signature: 'sig2',
    })
    const second = events.filter((event) => event.output_index === 1).map((event) => event.type)
    expect(second).toEqual(['response.output_item.added', 'response.output_item.done'])
  })

  it('writes a redacted thinking block as a reasoning item of its own, whole, its data in encrypted_content', async () => {
    const redactedChunks: ChatChunk[] = [
      start,
      { type: 'reasoning-delta', choiceIndex: 0, delta: 'thinking' },
      { type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: 'sig1' },
      { type: 'reasoning-delta', choiceIndex: 0, delta: '', redactedData: 'EmwKAhgB' },
      { type: 'text-delta', choiceIndex: 0, delta: 'ok' },
      stop,
    ]
    const events = await eventsOf(encode(redactedChunks))
    const output = finalOf(events).output
    expect(output.map((item) => item.type)).toEqual(['reasoning', 'reasoning', 'message'])
    expect(output[1].summary).toEqual([])
    expect(decodeReasoningContent(output[1].encrypted_content as string)).toEqual({
      redactedData: 'EmwKAhgB',
    })
    const second = events.filter((event) => event.output_index === 1).map((event) => event.type)
    expect(second).toEqual(['response.output_item.added', 'response.output_item.done'])
    // As the non-streamed conversion of the same answer gives it.
    const assembler = createChatResultAssembler()
    for (const chunk of redactedChunks) assembler.push(chunk)
    const converted = convertToResponsesResponse(assembler.finish()!, context())
    expect(withoutIds(output)).toEqual(withoutIds(converted.output as Item[]))
  })

  it('streams a refusal as a refusal part of the message, after the text part, with the refusal events', async () => {
    const events = await eventsOf(encode(refusalChunks))
    expect(typesOf(events)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.content_part.added',
      'response.refusal.delta',
      'response.refusal.delta',
      'response.refusal.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    const refusal = "I'm sorry, I can't help with that."
    const id = itemOf(events[2]).id
    expect(events[7]).toMatchObject({
      item_id: id,
      output_index: 0,
      content_index: 1,
      part: { type: 'refusal', refusal: '' },
    })
    expect(events[8]).toEqual({
      type: 'response.refusal.delta',
      item_id: id,
      output_index: 0,
      content_index: 1,
      delta: "I'm sorry, ",
      sequence_number: 8,
    })
    expect(events[10]).toMatchObject({ content_index: 1, refusal })
    expect(events[11]).toMatchObject({ content_index: 1, part: { type: 'refusal', refusal } })
    const content = [
      { type: 'output_text', text: 'Well,', annotations: [], logprobs: [] },
      { type: 'refusal', refusal },
    ]
    expect(itemOf(events[12])).toMatchObject({ type: 'message', status: 'completed', content })
    expect(finalOf(events)).toMatchObject({ status: 'completed', output: [{ content }] })
  })

  it('gives the same output items as the non-streamed conversion of the same answer', async () => {
    for (const chunks of [textChunks, toolChunks, reasoningChunks, refusalChunks]) {
      const assembler = createChatResultAssembler()
      for (const chunk of chunks) assembler.push(chunk)
      const converted = convertToResponsesResponse(assembler.finish()!, context())
      const streamed = finalOf(await eventsOf(encode(chunks)))
      expect(withoutIds(streamed.output)).toEqual(withoutIds(converted.output as Item[]))
      expect(streamed.usage).toEqual(converted.usage)
      expect(streamed.status).toBe(converted.status)
    }
  })

  it('ends with response.incomplete when the answer was cut by max_output_tokens', async () => {
    const events = await eventsOf(
      encode(
        [
          start,
          { type: 'text-delta', choiceIndex: 0, delta: 'The answer is' },
          {
            type: 'finish',
            choiceIndex: 0,
            finishReason: { unified: 'length', raw: 'max_tokens' },
          },
          { type: 'usage', usage },
        ],
        { context: context({ max_output_tokens: 16 }) }
      )
    )
    expect(typesOf(events).at(-1)).toBe('response.incomplete')
    expect(events.at(-2)).toMatchObject({
      type: 'response.output_item.done',
      item: { type: 'message', status: 'incomplete' },
    })
    expect(finalOf(events)).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      completed_at: null,
      max_output_tokens: 16,
      usage: { output_tokens: 12 },
    })
  })

  it('ends with response.incomplete for a content filter', async () => {
    const events = await eventsOf(
      encode([
        start,
        {
          type: 'finish',
          choiceIndex: 0,
          finishReason: { unified: 'content-filter', raw: 'refusal' },
        },
      ])
    )
    expect(typesOf(events)).toEqual([
      'response.created',
      'response.in_progress',
      'response.incomplete',
    ])
    expect(finalOf(events).incomplete_details).toEqual({ reason: 'content_filter' })
  })

  it('uses the usage of the start chunk when no later one comes, and zeros when there is none', async () => {
    const withStartUsage = await eventsOf(
      encode([
        { ...start, usage: { ...usage, outputTokens: 1 } } as ChatChunk,
        ...textChunks.slice(1, -1),
      ])
    )
    expect(finalOf(withStartUsage).usage).toMatchObject({ input_tokens: 30, output_tokens: 1 })
    const without = await eventsOf(encode(textChunks.slice(0, -1)))
    expect(finalOf(without).usage).toEqual({
      input_tokens: 0,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 0,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 0,
    })
  })

  it('ignores choices other than 0 and still answers a source without start or finish', async () => {
    const events = await eventsOf(
      encode([
        { type: 'text-delta', choiceIndex: 1, delta: 'other choice' },
        { type: 'text-delta', choiceIndex: 0, delta: 'only this' },
        {
          type: 'tool-call-delta',
          choiceIndex: 1,
          index: 0,
          id: 'x',
          name: 'y',
          argumentsDelta: '{}',
        },
      ])
    )
    const final = finalOf(events)
    expect(final).toMatchObject({ status: 'completed', model: 'claude-sonnet' })
    expect(final.output).toHaveLength(1)
    expect(JSON.stringify(events)).not.toContain('other choice')
  })

  it('keeps a fragment for a call already done (interleaved calls) in the final Response', async () => {
    const events = await eventsOf(
      encode([
        start,
        {
          type: 'tool-call-delta',
          choiceIndex: 0,
          index: 0,
          id: 'c1',
          name: 'a',
          argumentsDelta: '{"x":',
        },
        {
          type: 'tool-call-delta',
          choiceIndex: 0,
          index: 1,
          id: 'c2',
          name: 'b',
          argumentsDelta: '{}',
        },
        { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '1}' },
        {
          type: 'finish',
          choiceIndex: 0,
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        },
      ])
    )
    expect(finalOf(events).output.map((item) => item.arguments)).toEqual(['{"x":1}', '{}'])
  })

  it('ends a failing stream with an error event then response.failed carrying the output so far', async () => {
    const events = await eventsOf(
      encode(textChunks.slice(0, 2), { failWith: new Error('upstream went away') })
    )
    expect(typesOf(events)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'error',
      'response.failed',
    ])
    expect(events[5]).toEqual({
      type: 'error',
      code: null,
      message: 'upstream went away',
      param: null,
      sequence_number: 5,
      error: { type: 'server_error', code: null, message: 'upstream went away', param: null },
    })
    expect(finalOf(events)).toMatchObject({
      status: 'failed',
      completed_at: null,
      error: { code: 'server_error', message: 'upstream went away' },
      output: [
        {
          type: 'message',
          status: 'incomplete',
          content: [{ type: 'output_text', text: 'Hello' }],
        },
      ],
    })
    expect(finalOf(events)).not.toHaveProperty('usage')
  })

  it('fails a source that breaks before its first chunk with the whole sequence, keeping a known error code', async () => {
    const source = sourceOf([], new Error('rate limited'))
    const events = await eventsOf(encodeResponsesSse(source, { context: context(), describeError }))
    expect(typesOf(events)).toEqual([
      'response.created',
      'response.in_progress',
      'error',
      'response.failed',
    ])
    expect(events[2]).toMatchObject({ code: 'rate_limit_exceeded', message: 'rate limited' })
    expect(finalOf(events)).toMatchObject({
      model: 'claude-sonnet',
      error: { code: 'rate_limit_exceeded', message: 'rate limited' },
      output: [],
    })
  })

  it('cancels the source when the client goes away', async () => {
    const source = sourceOf(textChunks)
    const reader = encodeResponsesSse(source, { context: context(), describeError }).getReader()
    await reader.read()
    await reader.cancel('client disconnected')
    expect(source.cancelled()).toBe('client disconnected')
  })
})

/** Strings that JSON must escape, or that are not plain ASCII. */
const awkward =
  'a "quote", a \\ backslash, a\nnewline, a\ttab, \u0001, \u2028, é, 日本, 😀, a lone \ud800, </script>'

/** Every setting a `Response` echoes, set to something other than its default. */
const richBody = {
  instructions: `Be "brief".\n${awkward}`,
  max_output_tokens: 256,
  max_tool_calls: 4,
  parallel_tool_calls: false,
  previous_response_id: 'resp_previous',
  prompt_cache_key: 'key "1"',
  reasoning: { effort: 'high' },
  safety_identifier: 'user-1',
  store: false,
  temperature: 0.2,
  text: { format: { type: 'json_schema', name: 'x', schema: { type: 'object' } } },
  tool_choice: { type: 'function', name: 'get_weather' },
  tools: [
    { type: 'function', name: 'get_weather', parameters: { type: 'object' } },
    { type: 'web_search' },
  ],
  top_logprobs: 2,
  top_p: 0.5,
  truncation: 'auto',
  user: `user ${awkward}`,
  metadata: { trace: awkward },
}

const awkwardChunks: ChatChunk[] = [
  { ...start, model: `model ${awkward}` },
  { type: 'reasoning-delta', choiceIndex: 0, delta: awkward },
  { type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: `sig ${awkward}` },
  { type: 'text-delta', choiceIndex: 0, delta: awkward },
  { type: 'text-delta', choiceIndex: 0, delta: awkward },
  {
    type: 'tool-call-delta',
    choiceIndex: 0,
    index: 0,
    id: `toolu_${awkward}`,
    name: 'files__read',
    argumentsDelta: `{"path":${JSON.stringify(awkward)}`,
  },
  { type: 'tool-call-delta', choiceIndex: 0, index: 1, name: awkward, argumentsDelta: '' },
  // A late fragment for the first call, done already: only the final Response carries it.
  { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '}' },
  { type: 'finish', choiceIndex: 0, finishReason: { unified: 'length', raw: 'length' } },
  { type: 'usage', usage },
]

/** A refusal cut short: the failed `Response` holds the message with the refusal part so far. */
const awkwardRefusalChunks: ChatChunk[] = [
  start,
  { type: 'refusal-delta', choiceIndex: 0, delta: awkward },
  { type: 'text-delta', choiceIndex: 0, delta: awkward },
  { type: 'refusal-delta', choiceIndex: 0, delta: awkward },
]

/** The `data:` of each event, as sent. */
const dataOf = async (stream: ReadableStream<Uint8Array>): Promise<string[]> =>
  (await new Response(stream).text())
    .slice(0, -2)
    .split('\n\n')
    .map((raw) => raw.slice(raw.indexOf('\ndata: ') + 7))

describe('encodeResponsesSse: the events as JSON text', () => {
  const cases: [string, ChatChunk[], { failWith?: unknown }][] = [
    ['a text answer', textChunks, {}],
    ['function calls', toolChunks, {}],
    ['reasoning', reasoningChunks, {}],
    ['awkward text, cut by length', awkwardChunks, {}],
    ['awkward text, failing', awkwardChunks.slice(0, 6), { failWith: new Error(awkward) }],
    ['a refusal', refusalChunks, {}],
    ['an awkward refusal, failing', awkwardRefusalChunks, { failWith: new Error(awkward) }],
  ]
  const namespaced: ResponsesContext['toolName'] = (flattened) =>
    flattened.startsWith('files__')
      ? { namespace: 'files', name: flattened.slice(7) }
      : { name: flattened }

  it.each(cases)(
    '%s: each event is what JSON.stringify writes for it, and valid',
    async (_, chunks, { failWith }) => {
      for (const body of [{}, richBody]) {
        const options = {
          failWith,
          context: { ...context(body), toolName: namespaced },
        }
        for (const data of await dataOf(encode(chunks, options)))
          expect(data).toBe(JSON.stringify(JSON.parse(data)))
        await eventsOf(encode(chunks, options))
      }
    }
  )

  it('keeps (onFinished) the very Response the last event carries', async () => {
    for (const chunks of [textChunks, toolChunks, reasoningChunks, awkwardChunks, refusalChunks]) {
      const kept: Record<string, unknown>[] = []
      const data = await dataOf(
        encode(chunks, {
          context: {
            ...context(richBody),
            toolName: namespaced,
            onFinished: (response) => void kept.push(response),
          },
        })
      )
      expect(kept).toHaveLength(1)
      expect(JSON.stringify(kept[0])).toBe(
        JSON.stringify((JSON.parse(data.at(-1)!) as { response: unknown }).response)
      )
    }
  })
})

describe('createResponsesSseSource', () => {
  /** A reader over `chunks`, then a failure when asked, recording its cancel. */
  const readerOf = (chunks: ChatChunk[], failWith?: unknown) => {
    const reader = sourceOf(chunks, failWith).getReader()
    const cancels: unknown[] = []
    return {
      read: () => reader.read(),
      cancel: (reason?: unknown) => {
        cancels.push(reason)
        return reader.cancel(reason)
      },
      cancels,
    }
  }
  const piecesOf = async (source: ReturnType<typeof createResponsesSseSource>) => {
    const pieces: string[] = []
    const decoder = new TextDecoder()
    for (let piece = await source.pull(); piece !== null; piece = await source.pull())
      pieces.push(decoder.decode(piece))
    return pieces
  }
  const firstEvents = (pieces: string[]) =>
    pieces.map((piece) => piece.slice(7, piece.indexOf('\n')))

  it('sends one piece per chunk that adds events: the .done events of a finish go with the last ones', async () => {
    const pieces = await piecesOf(
      createResponsesSseSource(readerOf(textChunks), { context: context(), describeError })
    )
    expect(firstEvents(pieces)).toEqual([
      'response.created',
      'response.output_item.added',
      'response.output_text.delta',
      'response.output_text.done',
    ])
    expect(pieces.at(-1)).toMatch(/event: response.completed\n[^\n]+\n\n$/)
  })

  it('still closes the item a finish ended before the events of a chunk after it', async () => {
    const events = await eventsOf(
      encode([
        start,
        { type: 'text-delta', choiceIndex: 0, delta: 'cut' },
        { type: 'finish', choiceIndex: 0, finishReason: { unified: 'length', raw: 'length' } },
        { type: 'text-delta', choiceIndex: 0, delta: 'more' },
      ])
    )
    expect(typesOf(events).slice(5, 9)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
    ])
    expect(itemOf(events[7])).toMatchObject({ status: 'incomplete' })
    expect(finalOf(events).output.map((item) => item.status)).toEqual(['incomplete', 'incomplete'])
  })

  it('ends with the failure events, never a rejection, when the encoding itself fails, and releases the source', async () => {
    let calls = 0
    const chunks = readerOf(toolChunks)
    const source = createResponsesSseSource(chunks, {
      context: {
        ...context(),
        toolName: (name) => {
          calls += 1
          if (calls === 1) throw new Error('no such tool')
          return { name }
        },
      },
      describeError,
    })
    const pieces = await piecesOf(source)
    expect(pieces.join('')).toMatch(
      /event: error\n.*"message":"no such tool".*\n\nevent: response.failed\n/s
    )
    expect(chunks.cancels).toHaveLength(1)
    expect(await source.pull()).toBeNull()
  })

  it('cancels its reader when the client goes away', async () => {
    const chunks = readerOf(textChunks)
    const source = createResponsesSseSource(chunks, { context: context(), describeError })
    await source.pull()
    await source.cancel('client disconnected')
    expect(chunks.cancels).toEqual(['client disconnected'])
    expect(await source.pull()).toBeNull()
  })
})

describe('encodeResponsesErrorEvent', () => {
  it('writes the error event with its flat fields and the same error nested, numbered as asked', () => {
    const bytes = encodeResponsesErrorEvent(
      { code: 'upstream_error', message: 'Upstream failed' },
      17
    )
    expect(new TextDecoder().decode(bytes)).toBe(
      'event: error\ndata: {"type":"error","code":"upstream_error","message":"Upstream failed","param":null,' +
        '"sequence_number":17,"error":{"type":"server_error","code":"upstream_error","message":"Upstream failed",' +
        '"param":null}}\n\n'
    )
    const event = JSON.parse(new TextDecoder().decode(bytes).split('data: ')[1]) as unknown
    expectValidOpenAI('ResponseErrorEvent', event)
  })
})

describe('the official openai SDK reading the stream over HTTP', () => {
  let server: Server
  let baseURL: string
  let nextBody: () => ReadableStream<Uint8Array> = () => encode(textChunks)
  const requests: unknown[] = []

  beforeAll(async () => {
    // Written in 37-byte pieces so that events straddle the reads of the SDK's SSE decoder.
    server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', async () => {
        requests.push(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        response.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': 'req_1' })
        const reader = nextBody().getReader()
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          for (let offset = 0; offset < value.length; offset += 37)
            response.write(value.subarray(offset, offset + 37))
        }
        response.end()
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
  })

  afterAll(async () => {
    server.close()
    await once(server, 'close')
  })

  const client = (): OpenAI => new OpenAI({ apiKey: 'sk-test', baseURL, maxRetries: 0 })

  it('responses.stream: every event, then finalResponse with output_text and usage', async () => {
    nextBody = () => encode(reasoningChunks)
    const stream = client().responses.stream({ model: 'claude-sonnet', input: 'hi' })
    const seen: string[] = []
    let text = ''
    stream.on('response.output_text.delta', (event) => (text += event.delta))
    for await (const event of stream) seen.push(event.type)
    const final = await stream.finalResponse()
    expect(requests.at(-1)).toMatchObject({ model: 'claude-sonnet', stream: true })
    expect(seen).toEqual(typesOf(await eventsOf(encode(reasoningChunks))))
    expect(text).toBe('Hi!')
    expect(final.id).toBe('resp_67ccd3a9da748190baa7f1570fe91ac6')
    expect(final.status).toBe('completed')
    expect(final.output_text).toBe('Hi!')
    expect(final.output[0]).toMatchObject({
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'The user greets me.' }],
    })
    expect(final.usage).toMatchObject({
      input_tokens: 30,
      output_tokens: 12,
      total_tokens: 42,
      input_tokens_details: { cached_tokens: 20 },
      output_tokens_details: { reasoning_tokens: 5 },
    })
  })

  it('responses.create({stream: true}): text and function call arguments as the SDK accumulates them', async () => {
    nextBody = () => encode(toolChunks)
    const stream = await client().responses.create({
      model: 'claude-sonnet',
      input: 'weather?',
      stream: true,
    })
    const argumentsByItem = new Map<string, string>()
    let completed: OpenAI.Responses.Response | undefined
    for await (const event of stream) {
      if (event.type === 'response.function_call_arguments.delta')
        argumentsByItem.set(event.item_id, (argumentsByItem.get(event.item_id) ?? '') + event.delta)
      if (event.type === 'response.completed') completed = event.response
    }
    expect([...argumentsByItem.values()]).toEqual(['{"city":"Paris"}', '{"tz":"UTC"}'])
    expect(completed?.output.map((item) => item.type)).toEqual([
      'message',
      'function_call',
      'function_call',
    ])
    const final = await client()
      .responses.stream({ model: 'claude-sonnet', input: 'x' })
      .finalResponse()
    expect(final.output_text).toBe('Checking.')
    expect(final.output.filter((item) => item.type === 'function_call')).toMatchObject([
      {
        call_id: 'toolu_01',
        name: 'get_weather',
        arguments: '{"city":"Paris"}',
        status: 'completed',
      },
      { call_id: 'call_02', name: 'get_time', arguments: '{"tz":"UTC"}', status: 'completed' },
    ])
  })

  it('reads an answer cut by length as an incomplete Response', async () => {
    nextBody = () =>
      encode([
        start,
        { type: 'text-delta', choiceIndex: 0, delta: 'The answer is' },
        { type: 'finish', choiceIndex: 0, finishReason: { unified: 'length', raw: 'max_tokens' } },
        { type: 'usage', usage },
      ])
    const final = await client()
      .responses.stream({ model: 'claude-sonnet', input: 'x', max_output_tokens: 16 })
      .finalResponse()
    expect(final.status).toBe('incomplete')
    expect(final.incomplete_details).toEqual({ reason: 'max_output_tokens' })
    expect(final.output_text).toBe('The answer is')
  })

  it('raises an APIError on a failed stream, after the text that came before it', async () => {
    nextBody = () => encode(textChunks.slice(0, 2), { failWith: new Error('upstream went away') })
    const stream = await client().responses.create({
      model: 'claude-sonnet',
      input: 'x',
      stream: true,
    })
    let received = ''
    const consume = async (): Promise<void> => {
      for await (const event of stream)
        if (event.type === 'response.output_text.delta') received += event.delta
    }
    const error = await consume().then(
      () => null,
      (caught: unknown) => caught
    )
    expect(received).toBe('Hello')
    expect(error).toBeInstanceOf(APIError)
    expect((error as APIError).message).toContain('upstream went away')

    nextBody = () => encode([], { failWith: new Error('rate limited') })
    await expect(
      client().responses.stream({ model: 'claude-sonnet', input: 'x' }).finalResponse()
    ).rejects.toBeInstanceOf(APIError)
  })
})
