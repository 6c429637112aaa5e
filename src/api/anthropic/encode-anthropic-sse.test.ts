import Anthropic from '@anthropic-ai/sdk'
import { describe, expect, it } from 'vitest'
import type { ChatChunk, Usage } from '../../../providers/spec/chat-types.ts'
import { ProviderError } from '../../../providers/spec/provider-error.ts'
import { encodeAnthropicErrorEvent, encodeAnthropicSse } from './encode-anthropic-sse.ts'

const usage = (overrides: Partial<Usage> = {}): Usage => ({
  inputTokens: 42,
  outputTokens: 17,
  cachedInputTokens: null,
  cacheWriteInputTokens: null,
  reasoningTokens: null,
  ...overrides,
})

const start: ChatChunk = {
  type: 'start',
  id: 'chatcmpl-abc',
  model: 'gpt-4o-mini',
  created: 1_741_570_283,
}

/** A canonical source that yields `chunks`, then ends or fails with `failure`; records whether it was cancelled. */
const source = (chunks: ChatChunk[], failure?: unknown) => {
  const state = { cancelled: false, reason: undefined as unknown }
  let position = 0
  const stream = new ReadableStream<ChatChunk>(
    {
      pull(controller) {
        if (position < chunks.length) controller.enqueue(chunks[position++])
        else if (failure !== undefined) controller.error(failure)
        else controller.close()
      },
      cancel(reason) {
        state.cancelled = true
        state.reason = reason
      },
    },
    { highWaterMark: 0 }
  )
  return { stream, state }
}

const encode = (chunks: ChatChunk[], failure?: unknown) =>
  encodeAnthropicSse(source(chunks, failure).stream, {
    model: 'claude-sonnet-4-5',
    estimatedInputTokens: 40,
  })

const readText = (stream: ReadableStream<Uint8Array>): Promise<string> =>
  new Response(stream).text()

/** The official SDK, reading our bytes as if they came from api.anthropic.com. */
const sdkStream = (body: ReadableStream<Uint8Array>) => {
  const client = new Anthropic({
    apiKey: 'test-key',
    maxRetries: 0,
    fetch: async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
  })
  return client.messages.stream({
    model: 'claude-sonnet-4-5',
    max_tokens: 1024,
    messages: [{ role: 'user', content: 'Hi' }],
  })
}

const events = (text: string): { event: string; data: Record<string, unknown> }[] =>
  text
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      const [eventLine, dataLine, ...rest] = block.split('\n')
      expect(rest).toEqual([])
      expect(eventLine).toMatch(/^event: [a-z_]+$/)
      expect(dataLine.startsWith('data: ')).toBe(true)
      const data = JSON.parse(dataLine.slice(6)) as Record<string, unknown>
      expect(data.type).toBe(eventLine.slice(7))
      return { event: eventLine.slice(7), data }
    })

describe('encodeAnthropicSse', () => {
  it('produces a text message the official SDK assembles, with exact usage in message_delta', async () => {
    const chunks: ChatChunk[] = [
      start,
      { type: 'text-delta', choiceIndex: 0, delta: '' },
      { type: 'text-delta', choiceIndex: 0, delta: 'Hello' },
      { type: 'text-delta', choiceIndex: 0, delta: ' there!' },
      { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
      { type: 'usage', usage: usage({ cachedInputTokens: 12 }) },
    ]
    const message = await sdkStream(encode(chunks)).finalMessage()
    expect(message.content).toEqual([{ type: 'text', text: 'Hello there!' }])
    expect(message.content[0]).not.toHaveProperty('citations')
    expect(message.stop_reason).toBe('end_turn')
    expect(message.model).toBe('gpt-4o-mini') // the model the upstream reported, as on the non-streamed path
    expect(message.id).toMatch(/^msg_/)
    expect(message.usage).toMatchObject({
      input_tokens: 30,
      cache_read_input_tokens: 12,
      output_tokens: 17,
    })
  })

  it('writes a redacted thinking block whole, between the thinking before it and the text after it', async () => {
    const message = await sdkStream(
      encode([
        start,
        { type: 'reasoning-delta', choiceIndex: 0, delta: 'Plan.' },
        { type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: 'sig-1' },
        { type: 'reasoning-delta', choiceIndex: 0, delta: '', redactedData: 'EmwKAhgB' },
        { type: 'text-delta', choiceIndex: 0, delta: 'Done.' },
        { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'end_turn' } },
        { type: 'usage', usage: usage() },
      ])
    ).finalMessage()
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'Plan.', signature: 'sig-1' },
      { type: 'redacted_thinking', data: 'EmwKAhgB' },
      { type: 'text', text: 'Done.' },
    ])
  })

  it('follows the grammar: estimate first, blocks indexed in order, message_stop last', async () => {
    const text = await readText(
      encode([
        start,
        { type: 'text-delta', choiceIndex: 0, delta: 'Hi' },
        { type: 'finish', choiceIndex: 0, finishReason: { unified: 'length', raw: 'length' } },
        { type: 'usage', usage: usage() },
      ])
    )
    const parsed = events(text)
    expect(parsed.map((entry) => entry.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    expect(parsed[0].data.message).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: 40,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 1,
      },
    })
    expect(parsed[2].data).toEqual({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    })
    expect(parsed[5].data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'max_tokens', stop_sequence: null, stop_details: null },
      usage: {
        input_tokens: 42,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 17,
      },
    })
  })

  it('ends with the stop sequence that stopped the answer, when the provider said which', async () => {
    const finishReason = { unified: 'stop' as const, raw: 'stop_sequence', stopSequence: 'END' }
    const parsed = events(
      await readText(
        encode([
          start,
          { type: 'text-delta', choiceIndex: 0, delta: 'Hi' },
          { type: 'finish', choiceIndex: 0, finishReason },
          { type: 'usage', usage: usage() },
        ])
      )
    )
    expect(parsed.find((entry) => entry.event === 'message_delta')?.data.delta).toEqual({
      stop_reason: 'stop_sequence',
      stop_sequence: 'END',
      stop_details: null,
    })
  })

  it('streams tool calls the SDK parses, including one with no arguments', async () => {
    const chunks: ChatChunk[] = [
      start,
      { type: 'text-delta', choiceIndex: 0, delta: 'Let me check.' },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'call_1',
        name: 'get_weather',
        argumentsDelta: '',
      },
      { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '{"city":' },
      { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '"Paris"}' },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 1,
        id: 'call_2',
        name: 'get_time',
        argumentsDelta: '',
      },
      {
        type: 'finish',
        choiceIndex: 0,
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
      },
      { type: 'usage', usage: usage() },
    ]
    const stream = sdkStream(encode(chunks))
    const message = await stream.finalMessage()
    expect(message.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_2', name: 'get_time', input: {} },
    ])
    expect(message.stop_reason).toBe('tool_use')
  })

  it('streams interleaved calls one block at a time: each block whole between its start and its stop', async () => {
    const call = (index: number, argumentsDelta: string, first?: { id: string; name: string }) =>
      ({ type: 'tool-call-delta', choiceIndex: 0, index, argumentsDelta, ...first }) as ChatChunk
    const chunks: ChatChunk[] = [
      start,
      call(0, '{"command":', { id: 'call_a', name: 'shell' }),
      call(1, '{"path":', { id: 'call_b', name: 'read' }),
      call(0, '"ls"}'),
      call(1, '"a.txt"}'),
      // Complete calls one after the other, as the API sends them: each gets its block at once.
      call(2, '{}', { id: 'call_c', name: 'ping' }),
      call(3, '', { id: 'call_d', name: 'pong' }),
      {
        type: 'finish',
        choiceIndex: 0,
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
      },
      { type: 'usage', usage: usage() },
    ]
    const text = await readText(encode(chunks))
    const list = events(text)
    // Every delta belongs to the one block open at that moment; a block's input, read at its stop, is whole.
    let open: number | null = null
    const inputs = new Map<number, string>()
    for (const { event, data } of list) {
      if (event === 'content_block_start') {
        expect(open).toBeNull()
        open = data.index as number
        inputs.set(open, '')
      } else if (event === 'content_block_delta') {
        expect(data.index).toBe(open)
        inputs.set(
          open!,
          inputs.get(open!)! + (data.delta as { partial_json: string }).partial_json
        )
      } else if (event === 'content_block_stop') {
        expect(data.index).toBe(open)
        open = null
      }
    }
    expect([...inputs.values()]).toEqual(['{"command":"ls"}', '{"path":"a.txt"}', '{}', ''])
    const message = await sdkStream(encode(chunks)).finalMessage()
    expect(message.content).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'shell', input: { command: 'ls' } },
      { type: 'tool_use', id: 'call_b', name: 'read', input: { path: 'a.txt' } },
      { type: 'tool_use', id: 'call_c', name: 'ping', input: {} },
      { type: 'tool_use', id: 'call_d', name: 'pong', input: {} },
    ])
  })

  it('gives a call the API would send after a complete one its block at once, before the stream ends', async () => {
    const first: ChatChunk[] = [
      start,
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'call_a',
        name: 'a',
        argumentsDelta: '{"x":1}',
      },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 1,
        id: 'call_b',
        name: 'b',
        argumentsDelta: '{"y":',
      },
    ]
    const { stream } = source(first)
    const reader = encodeAnthropicSse(stream, { model: 'm', estimatedInputTokens: 1 }).getReader()
    let text = ''
    for (let step = 0; step < 3; step += 1)
      text += new TextDecoder().decode((await reader.read()).value)
    expect(text).toContain('"partial_json":"{\\"y\\":"')
    await reader.cancel()
  })

  it("stops for the tools when a lenient server ended a turn of tool calls with 'stop'", async () => {
    const chunks: ChatChunk[] = [
      start,
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'c',
        name: 'ls',
        argumentsDelta: '{}',
      },
      { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
    ]
    expect((await sdkStream(encode(chunks)).finalMessage()).stop_reason).toBe('tool_use')
    const text: ChatChunk[] = [
      start,
      { type: 'text-delta', choiceIndex: 0, delta: 'hi' },
      { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
    ]
    expect((await sdkStream(encode(text)).finalMessage()).stop_reason).toBe('end_turn')
  })

  it('gives a tool call without an id a toolu_ id', async () => {
    const chunks: ChatChunk[] = [
      start,
      { type: 'tool-call-delta', choiceIndex: 0, index: 0, name: 'ping', argumentsDelta: '{}' },
      {
        type: 'finish',
        choiceIndex: 0,
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
      },
    ]
    const message = await sdkStream(encode(chunks)).finalMessage()
    expect(message.content[0]).toMatchObject({ type: 'tool_use', name: 'ping', input: {} })
    expect((message.content[0] as { id: string }).id).toMatch(/^toolu_/)
  })

  it('opens a thinking block for reasoning, then a text block', async () => {
    const chunks: ChatChunk[] = [
      start,
      { type: 'reasoning-delta', choiceIndex: 0, delta: 'Think' },
      { type: 'reasoning-delta', choiceIndex: 0, delta: 'ing…', signature: 'sig-1' },
      { type: 'text-delta', choiceIndex: 0, delta: '42' },
      { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
      { type: 'usage', usage: usage({ reasoningTokens: 5 }) },
    ]
    const message = await sdkStream(encode(chunks)).finalMessage()
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'Thinking…', signature: 'sig-1' },
      { type: 'text', text: '42' },
    ])
    expect(message.usage.output_tokens_details).toEqual({ thinking_tokens: 5 })
  })

  it('estimates usage when the upstream reports none, never sending a bare 0 output', async () => {
    const parsed = events(
      await readText(
        encode([
          start,
          { type: 'text-delta', choiceIndex: 0, delta: 'a'.repeat(40) },
          { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
        ])
      )
    )
    expect(parsed.find((entry) => entry.event === 'message_delta')?.data.usage).toEqual({
      input_tokens: 40,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: 10,
    })
  })

  it('still writes a complete message when the source ends without chunks', async () => {
    const message = await sdkStream(encode([])).finalMessage()
    expect(message.content).toEqual([])
    expect(message.stop_reason).toBe('end_turn')
  })

  it('ends with an error event the SDK raises when the source fails mid-way', async () => {
    const failure = new ProviderError({
      kind: 'http',
      status: 529,
      message: 'Overloaded',
      type: 'overloaded_error',
    })
    const chunks: ChatChunk[] = [start, { type: 'text-delta', choiceIndex: 0, delta: 'Once upon' }]
    const text = await readText(encode(chunks, failure))
    expect(
      text.endsWith(
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
      )
    ).toBe(true)
    const stream = sdkStream(encode(chunks, failure))
    const error = await stream.finalMessage().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(Anthropic.APIError)
    expect(error).toMatchObject({ type: 'overloaded_error' })
  })

  it('reports timeouts as timeout_error and hides unexpected internal errors', async () => {
    const timeout = new ProviderError({
      kind: 'timeout',
      status: 504,
      message: 'No data for 120 s.',
    })
    expect(await readText(encode([start], timeout))).toContain(
      'data: {"type":"error","error":{"type":"timeout_error","message":"No data for 120 s."}}'
    )
    const internal = await readText(encode([start], new Error('db password=hunter2')))
    expect(internal).toContain('"type":"api_error"')
    expect(internal).not.toContain('hunter2')
  })

  it('propagates cancel to the source', async () => {
    const { stream, state } = source([start, { type: 'text-delta', choiceIndex: 0, delta: 'Hi' }])
    const reader = encodeAnthropicSse(stream, { model: 'm', estimatedInputTokens: 1 }).getReader()
    await reader.read()
    await reader.cancel('client gone')
    expect(state.cancelled).toBe(true)
    expect(state.reason).toBe('client gone')
  })
})

describe('encodeAnthropicErrorEvent', () => {
  it('writes the error event Anthropic sends', () => {
    expect(
      new TextDecoder().decode(
        encodeAnthropicErrorEvent({ type: 'api_error', message: 'Upstream failed' })
      )
    ).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Upstream failed"}}\n\n'
    )
  })
})

describe('encodeAnthropicSse: a refusal', () => {
  it('streams the refusal as a text block of its own and stops for refusal', async () => {
    const stream = sdkStream(
      encode([
        start,
        { type: 'text-delta', choiceIndex: 0, delta: 'Well,' },
        { type: 'refusal-delta', choiceIndex: 0, delta: "I'm sorry, " },
        { type: 'refusal-delta', choiceIndex: 0, delta: "I can't help with that." },
        { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
        { type: 'usage', usage: usage() },
      ])
    )
    const message = await stream.finalMessage()
    expect(message.content).toEqual([
      { type: 'text', text: 'Well,' },
      { type: 'text', text: "I'm sorry, I can't help with that." },
    ])
    expect(message.stop_reason).toBe('refusal')
    expect(message.stop_details).toEqual({
      type: 'refusal',
      category: null,
      explanation: "I'm sorry, I can't help with that.",
    })
  })
})
