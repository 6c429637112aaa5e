/// <reference types="vite/client" />
import { describe, expect, it, vi } from 'vitest'
import type { ChatChunk, ChatRequest } from '../spec/chat-types.ts'
import type { CallContext } from '../spec/provider-adapter.ts'
import { ProviderError } from '../spec/provider-error.ts'
import errorMidStream from './__fixtures__/anthropic-error-mid-stream.chunks.txt?raw'
import invalidRequestJson from './__fixtures__/anthropic-error-invalid-request.json?raw'
import overloadedJson from './__fixtures__/anthropic-error-overloaded.json?raw'
import rateLimitJson from './__fixtures__/anthropic-error-rate-limit.json?raw'
import modelsPage1 from './__fixtures__/anthropic-models-page-1.json?raw'
import modelsPage2 from './__fixtures__/anthropic-models-page-2.json?raw'
import textStream from './__fixtures__/anthropic-text.chunks.txt?raw'
import textJson from './__fixtures__/anthropic-text.json?raw'
import countTokensJson from './__fixtures__/anthropic-count-tokens.json?raw'
import thinkingToolJson from './__fixtures__/anthropic-thinking-tool.json?raw'
import thinkingToolsStream from './__fixtures__/anthropic-thinking-tools.chunks.txt?raw'
import toolNoArgsStream from './__fixtures__/anthropic-tool-no-args.chunks.txt?raw'
import truncatedStream from './__fixtures__/anthropic-truncated.chunks.txt?raw'
import { anthropicTextAnswer } from './__fixtures__/anthropic-text-answer.ts'
import {
  createFakeTransport,
  type FakeReply,
  type FakeTransport,
} from './__fixtures__/create-fake-transport.ts'
import { createAnthropicAdapter } from './anthropic-adapter.ts'
import { anthropicStreamError } from './anthropic-error.ts'

/** The adapter as the registry builds it: the configured key, base URL and headers, and this transport. */
const adapterFor = (transport: FakeTransport) =>
  createAnthropicAdapter({
    id: 'anthropic',
    apiKey: 'sk-ant-api03-gateway-key',
    baseUrl: 'https://api.anthropic.com',
    headers: { 'X-Team': 'core' },
    transport,
    now: () => 1_750_000_000_500,
  })

const callWith = (extra: Partial<CallContext> = {}): CallContext => ({
  signal: new AbortController().signal,
  requestId: 'req-1',
  connectTimeoutMs: 1234,
  ...extra,
})

const request = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'claude-sonnet-4-5',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
  ],
  maxTokens: 1024,
  stream: false,
  ...overrides,
})

const collect = async (stream: ReadableStream<ChatChunk>): Promise<ChatChunk[]> => {
  const chunks: ChatChunk[] = []
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return chunks
    chunks.push(value)
  }
}

const collectUntilError = async (
  stream: ReadableStream<ChatChunk>
): Promise<{ chunks: ChatChunk[]; error: unknown }> => {
  const chunks: ChatChunk[] = []
  const reader = stream.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { chunks, error: null }
      chunks.push(value)
    }
  } catch (error) {
    return { chunks, error }
  }
}

const rejection = async (promise: Promise<unknown>): Promise<ProviderError> => {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError)
    return error as ProviderError
  }
  throw new Error('expected a rejection')
}

const streamReply = (body: string, chunkSize = 1): FakeReply => ({
  headers: { 'content-type': 'text/event-stream' },
  body,
  chunkSize,
})

const decode = (body: unknown): Record<string, unknown> =>
  JSON.parse(String(body)) as Record<string, unknown>

describe('forward (same dialect)', () => {
  it('posts the client body with only the model replaced, our key, and the client version/beta headers', async () => {
    const transport = createFakeTransport([
      { body: textJson, headers: { 'content-type': 'application/json' } },
    ])
    const body = {
      model: 'claude-latest',
      max_tokens: 10,
      messages: [],
      service_tier: 'auto',
      thinking: { type: 'enabled' },
    }
    const call = callWith()
    const response = await adapterFor(transport).forward!(
      {
        operation: 'messages',
        body,
        model: 'claude-sonnet-4-5-20250929',
        headers: {
          'anthropic-version': '2026-10-21',
          'anthropic-beta': 'interleaved-thinking-2025-05-14',
          'x-api-key': 'client-key',
        },
      },
      call
    )
    const sent = transport.requests[0]
    expect(sent.url).toBe('https://api.anthropic.com/v1/messages')
    expect(sent.method).toBe('POST')
    expect(sent.signal).toBe(call.signal)
    expect(sent.connectTimeoutMs).toBe(1234)
    expect(sent.headers).toEqual({
      'x-api-key': 'sk-ant-api03-gateway-key',
      'anthropic-version': '2026-10-21',
      'anthropic-beta': 'interleaved-thinking-2025-05-14',
      'content-type': 'application/json',
      'accept-encoding': 'identity',
      'x-team': 'core',
    })
    expect(decode(sent.body)).toEqual({ ...body, model: 'claude-sonnet-4-5-20250929' })
    expect(body.model).toBe('claude-latest')
    expect(response.status).toBe(200)
    expect(await new Response(response.body).text()).toBe(textJson)
  })

  it("sends the client's own text, with the routed model's name edited in, and serializes a body it cannot edit surely", async () => {
    const transport = createFakeTransport([
      { body: textJson },
      { body: textJson },
      { body: textJson },
    ])
    // Spacing, key order and `1.0` survive only if the bytes are the client's.
    const text = '{"max_tokens":10, "model":"claude-x","messages":[],"temperature":1.0}'
    const body = JSON.parse(text) as Record<string, unknown>
    const adapter = adapterFor(transport)
    await adapter.forward!(
      { operation: 'messages', body, text, model: 'claude-x', headers: {} },
      callWith()
    )
    expect(transport.requests[0].body).toBe(text)
    await adapter.forward!(
      { operation: 'messages', body, text, model: 'claude-y', headers: {} },
      callWith()
    )
    expect(transport.requests[1].body).toBe(
      '{"max_tokens":10, "model":"claude-y","messages":[],"temperature":1.0}'
    )
    // A second "model" key: written anew.
    const nestedText = '{"model":"claude-x","metadata":{"model":"claude-x"},"messages":[]}'
    const nested = JSON.parse(nestedText) as Record<string, unknown>
    await adapter.forward!(
      { operation: 'messages', body: nested, text: nestedText, model: 'claude-y', headers: {} },
      callWith()
    )
    expect(transport.requests[2].body).toBe(JSON.stringify({ ...nested, model: 'claude-y' }))
  })

  it('sends count-tokens to /v1/messages/count_tokens with the default version when the client gave none', async () => {
    const transport = createFakeTransport([{ body: countTokensJson }])
    await adapterFor(transport).forward!(
      { operation: 'count-tokens', body: { messages: [] }, model: 'claude-x', headers: {} },
      callWith()
    )
    expect(transport.requests[0].url).toBe('https://api.anthropic.com/v1/messages/count_tokens')
    expect(transport.requests[0].headers['anthropic-version']).toBe('2023-06-01')
    expect(transport.requests[0].headers).not.toHaveProperty('anthropic-beta')
  })

  it('throws a retryable 529 for overloaded, and releases the error body', async () => {
    const transport = createFakeTransport([{ status: 529, body: overloadedJson }])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error).toMatchObject({
      kind: 'http',
      status: 529,
      retryable: true,
      type: 'overloaded_error',
      message: 'Overloaded',
    })
    expect(error.providerId).toBe('anthropic')
    expect(transport.bodies[0].finished || transport.bodies[0].cancelled).toBe(true)
  })

  it('reads retry-after on a 429', async () => {
    const transport = createFakeTransport([
      { status: 429, body: rateLimitJson, headers: { 'retry-after': '12' } },
    ])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error).toMatchObject({
      status: 429,
      retryable: true,
      retryAfterMs: 12_000,
      type: 'rate_limit_error',
    })
    expect(error.message).toContain('rate limit')
  })

  it('obeys x-should-retry: false from Anthropic', async () => {
    const transport = createFakeTransport([
      { status: 429, body: rateLimitJson, headers: { 'x-should-retry': 'false' } },
    ])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error.retryable).toBe(false)
  })

  it('keeps a 400 message for the client and does not retry it', async () => {
    const transport = createFakeTransport([{ status: 400, body: invalidRequestJson }])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error).toMatchObject({ status: 400, retryable: false, type: 'invalid_request_error' })
    expect(error.message).toBe('prompt is too long: 208310 tokens > 200000 maximum')
    expect(error.detail).toBe(invalidRequestJson)
  })

  it('redacts keys echoed in an error message and in the logged detail', async () => {
    const body = JSON.stringify({
      type: 'error',
      error: {
        type: 'authentication_error',
        message: 'invalid x-api-key sk-ant-api03-AbCdEf123456 (Bearer abc.def-ghi)',
      },
    })
    const transport = createFakeTransport([{ status: 401, body }])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error.message).toBe('invalid x-api-key sk-ant-*** (Bearer ***)')
    expect(error.detail).not.toContain('AbCdEf123456')
    expect(error.detail).not.toContain('abc.def-ghi')
  })

  it("keeps the upstream's error type and details (redacted) for an Anthropic client, and says whose they are", async () => {
    const body = JSON.stringify({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'The compaction signature is invalid.',
        details: {
          error_code: 'compaction_signature_invalid',
          seen: ['Bearer abc.def-ghi', { key: 'sk-ant-api03-AbCdEf123456' }],
        },
      },
      request_id: 'req_011',
    })
    const transport = createFakeTransport([{ status: 400, body }])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      dialect: 'anthropic',
      details: {
        error_code: 'compaction_signature_invalid',
        seen: ['Bearer ***', { key: 'sk-ant-***' }],
      },
    })

    const deep = { error_code: 'x', nested: {} as Record<string, unknown> }
    let level = deep.nested
    for (let depth = 0; depth < 20; depth += 1) level = level.next = {}
    const tooDeep = createFakeTransport([
      {
        status: 409,
        body: JSON.stringify({
          type: 'error',
          error: { type: 'conflict_error', message: 'Conflict', details: deep },
        }),
      },
    ])
    const conflict = await rejection(
      adapterFor(tooDeep).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(conflict).toMatchObject({ status: 409, type: 'conflict_error', details: null })

    const inStream = anthropicStreamError(
      JSON.stringify({
        type: 'error',
        error: { type: 'rate_limit_error', message: 'Spent', details: { error_code: 'ramp' } },
      }),
      'anthropic'
    )
    expect(inStream).toMatchObject({
      status: 429,
      inStream: true,
      dialect: 'anthropic',
      details: { error_code: 'ramp' },
    })

    // The type is passed on too: a key-shaped string in it is redacted as in the message.
    const keyInType = anthropicStreamError(
      JSON.stringify({ type: 'error', error: { type: 'x sk-ant-api03-abcdefghij', message: 'm' } }),
      'anthropic'
    )
    expect(keyInType.type).toBe('x sk-ant-***')
  })

  it('describes a non-JSON error page by its status', async () => {
    const transport = createFakeTransport([
      { status: 502, body: '<html><body>Bad gateway</body></html>' },
    ])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error).toMatchObject({ kind: 'http', status: 502, retryable: true, type: null })
    expect(error.message).toBe('Anthropic answered HTTP 502')
  })

  it('stops reading a huge error body at 64 KiB and cancels the rest', async () => {
    const transport = createFakeTransport([
      { status: 500, body: 'x'.repeat(1024 * 1024), chunkSize: 16 * 1024 },
    ])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'messages', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error.status).toBe(500)
    expect(transport.bodies[0].cancelled).toBe(true)
    expect(transport.bodies[0].bytesRead).toBeLessThanOrEqual(80 * 1024)
  })

  it('refuses embeddings, which Anthropic does not offer', async () => {
    const transport = createFakeTransport([])
    const error = await rejection(
      adapterFor(transport).forward!(
        { operation: 'embeddings', body: {}, model: 'm', headers: {} },
        callWith()
      )
    )
    expect(error).toMatchObject({ kind: 'unsupported', status: 400 })
    expect(transport.requests).toHaveLength(0)
  })
})

describe('chat (cross dialect)', () => {
  it('sends a converted Messages body and joins text blocks', async () => {
    const transport = createFakeTransport([{ body: textJson }])
    const result = await adapterFor(transport).chat(request({ temperature: 0.2 }), callWith())
    const sent = decode(transport.requests[0].body)
    expect(transport.requests[0].url).toBe('https://api.anthropic.com/v1/messages')
    expect(sent).toEqual({
      model: 'claude-sonnet-4-5',
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      max_tokens: 1024,
      temperature: 0.2,
    })
    expect(result).toEqual(anthropicTextAnswer(1_750_000_000))
  })

  it('maps thinking, tool calls and cache usage', async () => {
    const transport = createFakeTransport([{ body: thinkingToolJson }])
    const result = await adapterFor(transport).chat(request(), callWith())
    expect(result.choices[0].content).toEqual([
      {
        type: 'reasoning',
        text: 'The user wants me to call checkSandboxErrors immediately.',
        signature: 'Eq4CCpIBCBIYAipAM+SGYGx7V1aPBT2LXi5M54elabwLjKMzxMZ7dQBpCn7jCn2ZkTBMgSLasCPWFF',
      },
      {
        type: 'tool-call',
        id: 'toolu_017R7ACrx7NF7sLDDtvdQ1u9',
        name: 'checkSandboxErrors',
        arguments: '{}',
      },
      {
        type: 'tool-call',
        id: 'toolu_01B7xk2nN3p4vQ6rS8tU0wYz',
        name: 'get_weather',
        arguments: '{"city":"Tokyo","unit":"c"}',
      },
    ])
    expect(result.choices[0].finishReason).toEqual({ unified: 'tool-calls', raw: 'tool_use' })
    expect(result.usage).toEqual({
      inputTokens: 599 + 2048 + 100,
      outputTokens: 59,
      cachedInputTokens: 2048,
      cacheWriteInputTokens: 100,
      cacheWrite1hInputTokens: 0,
      reasoningTokens: 18,
    })
  })

  it('reports a 200 that is not a message as a bad response', async () => {
    const transport = createFakeTransport([{ body: '{"unexpected":true}' }, { body: 'not json' }])
    expect(await rejection(adapterFor(transport).chat(request(), callWith()))).toMatchObject({
      kind: 'bad-response',
      status: 502,
    })
    expect(await rejection(adapterFor(transport).chat(request(), callWith()))).toMatchObject({
      kind: 'bad-response',
      status: 502,
    })
  })

  it('rejects a conversion gap before calling upstream', async () => {
    const transport = createFakeTransport([])
    const error = await rejection(
      adapterFor(transport).chat(request({ temperature: 1.5 }), callWith())
    )
    expect(error).toMatchObject({ kind: 'unsupported', status: 400, param: 'temperature' })
    expect(transport.requests).toHaveLength(0)
  })
})

describe('streamChat', () => {
  it('turns a text stream split byte by byte into canonical chunks', async () => {
    const transport = createFakeTransport([streamReply(textStream)])
    const stream = await adapterFor(transport).streamChat(request({ stream: true }), callWith())
    expect(decode(transport.requests[0].body).stream).toBe(true)
    const chunks = await collect(stream)
    expect(chunks).toEqual([
      {
        type: 'start',
        id: 'msg_01QC4g3HwBThD4BaNtBckFDJ',
        model: 'claude-sonnet-4-5-20250929',
        created: 1_750_000_000,
        // `message_start`'s output count (1) is a placeholder: unknown until `message_delta`.
        usage: {
          inputTokens: 12,
          outputTokens: null,
          cachedInputTokens: 0,
          cacheWriteInputTokens: 0,
          cacheWrite1hInputTokens: 0,
          reasoningTokens: null,
        },
      },
      { type: 'text-delta', choiceIndex: 0, delta: 'Hello' },
      { type: 'text-delta', choiceIndex: 0, delta: "! I'm doing well, thank you — " },
      { type: 'text-delta', choiceIndex: 0, delta: 'how can I help? 👋' },
      { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'end_turn' } },
      {
        type: 'usage',
        usage: {
          inputTokens: 12,
          outputTokens: 30,
          cachedInputTokens: 0,
          cacheWriteInputTokens: 0,
          cacheWrite1hInputTokens: 0,
          reasoningTokens: null,
        },
      },
    ])
    await vi.waitFor(() => expect(transport.bodies[0].finished).toBe(true))
    expect(transport.bodies[0].cancelled).toBe(false)
  })

  it('gives a no-argument tool call its own index and `{}` arguments', async () => {
    const transport = createFakeTransport([streamReply(toolNoArgsStream, 7)])
    const chunks = await collect(
      await adapterFor(transport).streamChat(request({ stream: true }), callWith())
    )
    const toolChunks = chunks.filter((chunk) => chunk.type === 'tool-call-delta')
    expect(toolChunks).toEqual([
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'toolu_01QE1WLsSVp5hy5Q3GmGTmjP',
        name: 'updateIssueList',
        argumentsDelta: '',
      },
      { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '{}' },
    ])
    expect(chunks.find((chunk) => chunk.type === 'finish')).toEqual({
      type: 'finish',
      choiceIndex: 0,
      finishReason: { unified: 'tool-calls', raw: 'tool_use' },
    })
  })

  it('streams reasoning with its signature, several tool calls, and cumulative cache usage', async () => {
    const transport = createFakeTransport([streamReply(thinkingToolsStream, 5)])
    const chunks = await collect(
      await adapterFor(transport).streamChat(request({ stream: true }), callWith())
    )
    const reasoning = chunks.filter((chunk) => chunk.type === 'reasoning-delta')
    expect(reasoning.map((chunk) => chunk.delta).join('')).toBe(
      "The user wants the weather in two cities. I'll call get_weather twice."
    )
    expect(reasoning.at(-1)).toEqual({
      type: 'reasoning-delta',
      choiceIndex: 0,
      delta: '',
      signature: 'EqQBCkgIARABGAIiQL2p3sig',
    })
    const calls = new Map<number, { id?: string; name?: string; arguments: string }>()
    for (const chunk of chunks) {
      if (chunk.type !== 'tool-call-delta') continue
      const call = calls.get(chunk.index) ?? { arguments: '' }
      call.id ??= chunk.id
      call.name ??= chunk.name
      call.arguments += chunk.argumentsDelta
      calls.set(chunk.index, call)
    }
    expect([...calls.keys()]).toEqual([0, 1])
    expect(JSON.parse(calls.get(0)!.arguments)).toEqual({ city: 'Paris', unit: 'c' })
    expect(JSON.parse(calls.get(1)!.arguments)).toEqual({ city: 'Tokyo' })
    expect(calls.get(1)!.id).toBe('toolu_01B7xk2nN3p4vQ6rS8tU0wYz')
    expect(chunks.at(-1)).toEqual({
      type: 'usage',
      usage: {
        inputTokens: 599 + 1024 + 256,
        outputTokens: 112,
        cachedInputTokens: 1024,
        cacheWriteInputTokens: 256,
        cacheWrite1hInputTokens: 0,
        reasoningTokens: 18,
      },
    })
  })

  it('errors the stream with the upstream error type when an error event arrives mid-stream', async () => {
    const transport = createFakeTransport([streamReply(errorMidStream, 3)])
    const { chunks, error } = await collectUntilError(
      await adapterFor(transport).streamChat(request({ stream: true }), callWith())
    )
    expect(chunks.filter((chunk) => chunk.type === 'text-delta')).toEqual([
      { type: 'text-delta', choiceIndex: 0, delta: 'Once upon a' },
    ])
    expect(error).toBeInstanceOf(ProviderError)
    expect(error).toMatchObject({
      kind: 'http',
      status: 529,
      type: 'overloaded_error',
      message: 'Overloaded',
      dialect: 'anthropic',
    })
  })

  it('errors a stream that ends without message_stop', async () => {
    const transport = createFakeTransport([streamReply(truncatedStream, 64)])
    const { chunks, error } = await collectUntilError(
      await adapterFor(transport).streamChat(request({ stream: true }), callWith())
    )
    expect(chunks.some((chunk) => chunk.type === 'text-delta')).toBe(true)
    expect(error).toMatchObject({ kind: 'bad-response', status: 502 })
  })

  it('rejects before returning a stream when the upstream answers 429', async () => {
    const transport = createFakeTransport([
      { status: 429, body: rateLimitJson, headers: { 'retry-after-ms': '1500' } },
    ])
    const error = await rejection(
      adapterFor(transport).streamChat(request({ stream: true }), callWith())
    )
    expect(error).toMatchObject({ status: 429, retryAfterMs: 1500 })
  })

  it('cancels the upstream body when the consumer cancels', async () => {
    const transport = createFakeTransport([streamReply(textStream, 16)])
    const reader = (
      await adapterFor(transport).streamChat(request({ stream: true }), callWith())
    ).getReader()
    expect((await reader.read()).value).toMatchObject({ type: 'start' })
    await reader.cancel('client went away')
    expect(transport.bodies[0].cancelled).toBe(true)
    expect(transport.bodies[0].finished).toBe(false)
  })
})

describe('what it serves', () => {
  it('forwards messages and count_tokens natively, and asks the core for max_tokens on converted calls', () => {
    const adapter = adapterFor(createFakeTransport([]))
    expect([...adapter.forwards].sort()).toEqual(['count-tokens', 'messages'])
    expect(adapter.requiresMaxTokens).toBe(true)
  })

  it("calls Anthropic's public API when the config gives no base URL", async () => {
    const transport = createFakeTransport([
      { body: textJson, headers: { 'content-type': 'application/json' } },
    ])
    await createAnthropicAdapter({ id: 'anthropic', transport }).chat(request(), callWith())
    expect(transport.requests[0].url).toBe('https://api.anthropic.com/v1/messages')
  })
})

describe('listModels', () => {
  it('follows pagination and reads display names and creation dates', async () => {
    const transport = createFakeTransport([{ body: modelsPage1 }, { body: modelsPage2 }])
    const models = await adapterFor(transport).listModels!(callWith())
    expect(models).toEqual([
      {
        id: 'claude-sonnet-4-5-20250929',
        displayName: 'Claude Sonnet 4.5',
        created: Date.UTC(2025, 8, 29) / 1000,
      },
      {
        id: 'claude-opus-4-1-20250805',
        displayName: 'Claude Opus 4.1',
        created: Date.UTC(2025, 7, 5) / 1000,
      },
      {
        id: 'claude-3-haiku-20240307',
        displayName: 'Claude Haiku 3',
        created: Date.UTC(2024, 2, 7) / 1000,
      },
    ])
    expect(transport.requests.map((sent) => sent.url)).toEqual([
      'https://api.anthropic.com/v1/models?limit=1000',
      'https://api.anthropic.com/v1/models?limit=1000&after_id=claude-opus-4-1-20250805',
    ])
    expect(transport.requests[0].method).toBe('GET')
    expect(transport.requests[0].headers).not.toHaveProperty('content-type')
  })
})
