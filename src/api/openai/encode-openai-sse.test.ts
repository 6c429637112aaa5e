import OpenAI, { APIError } from 'openai'
import { describe, expect, it } from 'vitest'
import type { ChatChunk, Usage } from '../../../providers/spec/chat-types.ts'
import { ProviderError } from '../../../providers/spec/provider-error.ts'
import { expectValidOpenAI } from '../../../test/helpers/openapi-validator.ts'
import { GatewayError } from '../../core/errors.ts'
import { encodeOpenAIErrorEvent, encodeOpenAISse } from './encode-openai-sse.ts'

const usage: Usage = {
  inputTokens: 30,
  outputTokens: 12,
  cachedInputTokens: 20,
  cacheWriteInputTokens: null,
  reasoningTokens: null,
}

const start: ChatChunk = {
  type: 'start',
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  model: 'claude-sonnet-4-5',
  created: 1754651500,
}

const textChunks: ChatChunk[] = [
  start,
  { type: 'reasoning-delta', choiceIndex: 0, delta: 'thinking hard' },
  { type: 'text-delta', choiceIndex: 0, delta: 'Hello' },
  { type: 'text-delta', choiceIndex: 0, delta: ', world' },
  { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'end_turn' } },
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
  {
    type: 'tool-call-delta',
    choiceIndex: 0,
    index: 1,
    id: 'toolu_02',
    name: 'get_time',
    argumentsDelta: '{}',
  },
  { type: 'usage', usage },
  { type: 'finish', choiceIndex: 0, finishReason: { unified: 'tool-calls', raw: 'tool_use' } },
]

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

const textOf = async (stream: ReadableStream<Uint8Array>): Promise<string> =>
  new Response(stream).text()

/** The `data:` payloads, in order. */
const eventsOf = (text: string): string[] => {
  expect(text.endsWith('\n\n')).toBe(true)
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((event) => {
      expect(event.startsWith('data: ')).toBe(true)
      return event.slice('data: '.length)
    })
}

const clientFor = (stream: ReadableStream<Uint8Array>): OpenAI =>
  new OpenAI({
    apiKey: 'sk-test',
    baseURL: 'http://gateway.test/v1',
    maxRetries: 0,
    fetch: async () =>
      new Response(stream, {
        headers: { 'content-type': 'text/event-stream', 'x-request-id': 'req_1' },
      }),
  })

describe('encodeOpenAISse', () => {
  it('writes the exact OpenAI chunk grammar without include_usage', async () => {
    const events = eventsOf(
      await textOf(encodeOpenAISse(sourceOf(textChunks), { includeUsage: false }))
    )
    const envelope = {
      id: 'chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion.chunk',
      created: 1754651500,
      model: 'claude-sonnet-4-5',
    }
    expect(events.at(-1)).toBe('[DONE]')
    expect(events.slice(0, -1).map((event) => JSON.parse(event))).toEqual([
      {
        ...envelope,
        choices: [
          {
            index: 0,
            delta: { role: 'assistant', content: '', refusal: null },
            logprobs: null,
            finish_reason: null,
          },
        ],
      },
      {
        ...envelope,
        choices: [{ index: 0, delta: { content: 'Hello' }, logprobs: null, finish_reason: null }],
      },
      {
        ...envelope,
        choices: [{ index: 0, delta: { content: ', world' }, logprobs: null, finish_reason: null }],
      },
      { ...envelope, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] },
    ])
    expect(events.join('')).not.toContain('"usage"')
  })

  it('puts usage: null on every chunk and the full usage on a trailing choices: [] chunk with include_usage', async () => {
    const events = eventsOf(
      await textOf(encodeOpenAISse(sourceOf(textChunks), { includeUsage: true }))
    )
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event) as Record<string, unknown>)
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull()
    expect(chunks.at(-1)).toEqual({
      id: 'chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion.chunk',
      created: 1754651500,
      model: 'claude-sonnet-4-5',
      choices: [],
      usage: {
        prompt_tokens: 30,
        completion_tokens: 12,
        total_tokens: 42,
        prompt_tokens_details: { cached_tokens: 20, audio_tokens: 0 },
      },
    })
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    expect(events.at(-1)).toBe('[DONE]')
  })

  it('writes tool calls as a first fragment with id, type and name, then argument fragments', async () => {
    const events = eventsOf(
      await textOf(encodeOpenAISse(sourceOf(toolChunks), { includeUsage: false }))
    )
    const deltas = events
      .slice(0, -1)
      .map((event) => (JSON.parse(event) as { choices: [{ delta: unknown }] }).choices[0].delta)
    expect(deltas).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { content: 'Checking.' },
      {
        tool_calls: [
          {
            index: 0,
            id: 'toolu_01',
            type: 'function',
            function: { name: 'get_weather', arguments: '' },
          },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
      {
        tool_calls: [
          {
            index: 1,
            id: 'toolu_02',
            type: 'function',
            function: { name: 'get_time', arguments: '' },
          },
        ],
      },
      { tool_calls: [{ index: 1, function: { arguments: '{}' } }] },
      {},
    ])
    for (const event of events.slice(0, -1))
      expectValidOpenAI('CreateChatCompletionStreamResponse', JSON.parse(event))
  })

  it('is accepted by the official SDK stream helper, text and usage included', async () => {
    const client = clientFor(encodeOpenAISse(sourceOf(textChunks), { includeUsage: true }))
    const stream = client.chat.completions.stream({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'hi' }],
      stream_options: { include_usage: true },
    })
    const completion = await stream.finalChatCompletion()
    expect(completion.id).toBe('chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL')
    expect(completion.choices).toHaveLength(1)
    expect(completion.choices[0].message).toMatchObject({
      role: 'assistant',
      content: 'Hello, world',
      refusal: null,
    })
    expect(completion.choices[0].finish_reason).toBe('stop')
    expect(completion.usage).toMatchObject({
      prompt_tokens: 30,
      completion_tokens: 12,
      total_tokens: 42,
    })
  })

  it('is accepted by the official SDK stream helper with parallel tool calls', async () => {
    const client = clientFor(
      encodeOpenAISse(sourceOf(toolChunks), { includeUsage: false, model: 'smart' })
    )
    const completion = await client.chat.completions
      .stream({ model: 'smart', messages: [{ role: 'user', content: 'weather?' }] })
      .finalChatCompletion()
    expect(completion.model).toBe('smart')
    expect(completion.choices[0].finish_reason).toBe('tool_calls')
    expect(completion.choices[0].message.content).toBe('Checking.')
    expect(completion.choices[0].message.tool_calls).toEqual([
      {
        id: 'toolu_01',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      },
      { id: 'toolu_02', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ])
  })

  it('sends a zero-filled usage chunk when the client asked for usage and the upstream reported none', async () => {
    const events = eventsOf(
      await textOf(encodeOpenAISse(sourceOf(textChunks.slice(0, -1)), { includeUsage: true }))
    )
    expect(JSON.parse(events.at(-2)!)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    })
  })

  it('ends a failing stream with an error event the SDK raises as an APIError, and no [DONE]', async () => {
    const failure = new ProviderError({
      kind: 'http',
      status: 529,
      message: 'Overloaded',
      type: 'overloaded_error',
      providerId: 'anthropic',
    })
    const text = await textOf(
      encodeOpenAISse(sourceOf(textChunks.slice(0, 3), failure), { includeUsage: false })
    )
    expect(text).not.toContain('[DONE]')
    expect(JSON.parse(eventsOf(text).at(-1)!)).toEqual({
      error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: null },
    })

    const client = clientFor(
      encodeOpenAISse(sourceOf(textChunks.slice(0, 3), failure), { includeUsage: false })
    )
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    })
    let received = ''
    const consume = async (): Promise<void> => {
      for await (const chunk of stream) received += chunk.choices[0]?.delta.content ?? ''
    }
    const error = await consume().then(
      () => null,
      (caught: unknown) => caught
    )
    expect(received).toBe('Hello')
    expect(error).toBeInstanceOf(APIError)
    expect(error).toMatchObject({
      status: undefined,
      message: 'Overloaded',
      type: 'overloaded_error',
    })
  })

  it('words gateway errors by status and never leaks the message of an unexpected error', async () => {
    const timeout = new GatewayError('timeout', 'The upstream stopped sending for 120 s.', {
      openaiCode: 'timeout',
    })
    const timeoutText = await textOf(
      encodeOpenAISse(sourceOf([start], timeout), { includeUsage: false })
    )
    expect(JSON.parse(eventsOf(timeoutText).at(-1)!)).toEqual({
      error: {
        message: 'The upstream stopped sending for 120 s.',
        type: 'server_error',
        param: null,
        code: 'timeout',
      },
    })
    const bug = new TypeError('Cannot read properties of undefined (reading secret_internal_field)')
    const bugText = await textOf(encodeOpenAISse(sourceOf([start], bug), { includeUsage: false }))
    expect(bugText).not.toContain('secret_internal_field')
    expect(JSON.parse(eventsOf(bugText).at(-1)!)).toMatchObject({
      error: { type: 'server_error', param: null, code: null },
    })
  })

  it('lets the caller word the error event', async () => {
    const text = await textOf(
      encodeOpenAISse(sourceOf([start], new Error('x')), {
        includeUsage: false,
        describeError: () => ({ message: 'custom', type: 'server_error', code: 'upstream_error' }),
      })
    )
    expect(JSON.parse(eventsOf(text).at(-1)!)).toEqual({
      error: { message: 'custom', type: 'server_error', param: null, code: 'upstream_error' },
    })
  })

  it('cancels the source when the client goes away', async () => {
    const source = sourceOf(textChunks)
    const reader = encodeOpenAISse(source, { includeUsage: false }).getReader()
    await reader.read()
    await reader.cancel('client disconnected')
    expect(source.cancelled()).toBe('client disconnected')
  })
})

describe('encodeOpenAIErrorEvent', () => {
  it('writes one data event with param and code always present', () => {
    const bytes = encodeOpenAIErrorEvent({ message: 'Upstream failed', type: 'server_error' })
    expect(new TextDecoder().decode(bytes)).toBe(
      'data: {"error":{"message":"Upstream failed","type":"server_error","param":null,"code":null}}\n\n'
    )
  })
})

describe('encodeOpenAISse: a refusal', () => {
  const refusalChunks: ChatChunk[] = [
    start,
    { type: 'refusal-delta', choiceIndex: 0, delta: "I'm sorry, " },
    { type: 'refusal-delta', choiceIndex: 0, delta: "I can't help with that." },
    { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
    { type: 'usage', usage },
  ]

  it('streams delta.refusal, never delta.content, each chunk valid', async () => {
    const events = eventsOf(
      await textOf(encodeOpenAISse(sourceOf(refusalChunks), { includeUsage: true }))
    )
    expect(events.at(-1)).toBe('[DONE]')
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event) as Record<string, unknown>)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    const deltas = chunks.flatMap((chunk) =>
      (chunk.choices as { delta: Record<string, unknown> }[]).map((choice) => choice.delta)
    )
    expect(deltas.slice(1, 3)).toEqual([
      { refusal: "I'm sorry, " },
      { refusal: "I can't help with that." },
    ])
    expect(deltas.map((delta) => delta.content ?? '').join('')).toBe('')
  })

  it("gives the SDK's parse helper a refusal and no SyntaxError", async () => {
    const client = clientFor(encodeOpenAISse(sourceOf(refusalChunks), { includeUsage: false }))
    const stream = client.chat.completions.stream({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'Hi' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
      },
    })
    const final = await stream.finalChatCompletion()
    expect(final.choices[0].message).toMatchObject({
      refusal: "I'm sorry, I can't help with that.",
      parsed: null,
    })
  })
})
