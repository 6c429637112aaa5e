import { describe, expect, it } from 'vitest'
import chatTextJson from './__fixtures__/chat-text.json?raw'
import chatToolCallsJson from './__fixtures__/chat-tool-calls.json?raw'
import chatTextSse from './__fixtures__/chat-text.sse?raw'
import chatToolCallsSse from './__fixtures__/chat-tool-calls.sse?raw'
import chatReasoningVllmSse from './__fixtures__/chat-reasoning-vllm.sse?raw'
import chatErrorMidwaySse from './__fixtures__/chat-error-midway.sse?raw'
import error401InvalidKeyJson from './__fixtures__/error-401-invalid-key.json?raw'
import error429RateLimitJson from './__fixtures__/error-429-rate-limit.json?raw'
import error400ContextLengthJson from './__fixtures__/error-400-context-length.json?raw'
import modelsJson from './__fixtures__/models.json?raw'
import embeddingsJson from './__fixtures__/embeddings.json?raw'
import responsesTextJson from './__fixtures__/responses-text.json?raw'
import responsesToolCallsSse from './__fixtures__/responses-tool-calls.sse?raw'
import responsesErrorMidwaySse from './__fixtures__/responses-error-midway.sse?raw'
import type { ChatChunk, ChatRequest } from '../spec/chat-types.ts'
import type {
  CallContext,
  HttpProviderSettings,
  ForwardRequest,
  UpstreamTransport,
} from '../spec/provider-adapter.ts'
import { ProviderError } from '../spec/provider-error.ts'
import { chatTextAnswer } from './__fixtures__/chat-text-answer.ts'
import { createReplayTransport, everyBytes, type Replay } from './__fixtures__/replay-transport.ts'
import { createOpenAIAdapter, type OpenAICompat } from './openai-adapter.ts'

const legacyCompat: OpenAICompat = {
  developerRole: false,
  streamOptions: false,
  maxCompletionTokens: false,
  responses: false,
}

const call: CallContext = {
  signal: new AbortController().signal,
  requestId: 'req_test_1',
  connectTimeoutMs: 10_000,
}

/** What the registry gives an adapter: its key, base URL and transport. */
const settingsFor = (
  transport: UpstreamTransport,
  overrides: Partial<Omit<HttpProviderSettings, 'id' | 'transport'>> = {}
): Omit<HttpProviderSettings, 'id'> => ({
  transport,
  apiKey: 'sk-gateway-key-000000',
  baseUrl: 'https://api.openai.com/v1',
  ...overrides,
})

const chatRequest = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text: 'Capital of France?' }] },
  ],
  maxTokens: 100,
  stream: false,
  ...overrides,
})

const forwardRequest = (
  body: Record<string, unknown>,
  overrides: Partial<ForwardRequest> = {}
): ForwardRequest => ({
  operation: 'chat-completions',
  body,
  model: 'gpt-4o-mini-2024-07-18',
  headers: { 'anthropic-version': '2023-06-01' },
  ...overrides,
})

const sentBody = (
  transport: ReturnType<typeof createReplayTransport>,
  position = 0
): Record<string, unknown> =>
  JSON.parse(transport.requests[position].body as string) as Record<string, unknown>

const readAll = async <T>(stream: ReadableStream<T>): Promise<{ chunks: T[]; error: unknown }> => {
  const reader = stream.getReader()
  const chunks: T[] = []
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { chunks, error: undefined }
      chunks.push(value)
    }
  } catch (error) {
    return { chunks, error }
  }
}

const textOf = (chunks: ChatChunk[]): string =>
  chunks.flatMap((chunk) => (chunk.type === 'text-delta' ? [chunk.delta] : [])).join('')

const rejection = async (promise: Promise<unknown>): Promise<ProviderError> => {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError)
    return error as ProviderError
  }
  throw new Error('expected a rejection')
}

describe('createOpenAIAdapter', () => {
  it('forwards chat completions, embeddings and responses natively (OpenAI), and nothing else', () => {
    const adapter = createOpenAIAdapter({ id: 'openai', ...settingsFor(createReplayTransport([])) })
    expect(adapter.id).toBe('openai')
    expect([...adapter.forwards].sort()).toEqual(['chat-completions', 'embeddings', 'responses'])
    expect(adapter.requiresMaxTokens).toBeFalsy()
  })

  it('does not forward responses to a server without the Responses API (compat.responses false)', () => {
    const adapter = createOpenAIAdapter({
      id: 'groq',
      ...settingsFor(createReplayTransport([])),
      compat: legacyCompat,
    })
    expect([...adapter.forwards].sort()).toEqual(['chat-completions', 'embeddings'])
  })

  it("calls OpenAI's public API when the config gives no base URL", async () => {
    const transport = createReplayTransport([{ body: chatTextJson }])
    await createOpenAIAdapter({ id: 'openai', transport, apiKey: 'sk-x' }).forward!(
      forwardRequest({ messages: [] }),
      call
    )
    expect(transport.requests[0].url).toBe('https://api.openai.com/v1/chat/completions')
  })
})

describe('forward', () => {
  it('sends a Responses request to /responses, without the reasoning a converted answer carried', async () => {
    const transport = createReplayTransport([{ body: '{"object":"response","output":[]}' }])
    const adapter = createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) })
    const openAIReasoning = {
      type: 'reasoning',
      id: 'rs_1',
      summary: [],
      encrypted_content: 'gAAAA-openai',
    }
    await adapter.forward!(
      forwardRequest(
        {
          model: 'fast',
          input: [
            { role: 'user', content: 'hi' },
            {
              type: 'reasoning',
              id: 'rs_2',
              summary: [],
              encrypted_content: 'gatehouse:reasoning:v1:e30',
            },
            openAIReasoning,
          ],
          store: false,
        },
        { operation: 'responses' }
      ),
      call
    )
    expect(transport.requests[0].url).toMatch(/\/v1\/responses$/)
    expect(sentBody(transport)).toEqual({
      model: 'gpt-4o-mini-2024-07-18',
      input: [{ role: 'user', content: 'hi' }, openAIReasoning],
      store: false,
    })
  })

  it('sends the client body with only the model replaced, with the gateway key and never the client headers', async () => {
    const transport = createReplayTransport([{ body: chatTextJson }])
    const adapter = createOpenAIAdapter({
      id: 'openai',
      ...settingsFor(transport, { headers: { 'openai-organization': 'org-configured' } }),
    })
    const body = {
      model: 'fast',
      messages: [{ role: 'developer', content: 'hi' }],
      logprobs: true,
      vendor_extra: { a: 1 },
    }
    const response = await adapter.forward!(forwardRequest(body), call)

    const sent = transport.requests[0]
    expect(sent.url).toBe('https://api.openai.com/v1/chat/completions')
    expect(sent.method).toBe('POST')
    expect(sent.signal).toBe(call.signal)
    expect(sent.connectTimeoutMs).toBe(10_000)
    expect(sent.headers).toEqual({
      authorization: 'Bearer sk-gateway-key-000000',
      'content-type': 'application/json',
      'accept-encoding': 'identity',
      'x-request-id': 'req_test_1',
      'openai-organization': 'org-configured',
    })
    expect(sentBody(transport)).toEqual({ ...body, model: 'gpt-4o-mini-2024-07-18' })
    expect(body.model).toBe('fast')
    expect(response.status).toBe(200)
    expect(await new Response(response.body).json()).toEqual(JSON.parse(chatTextJson))
  })

  it("sends the client's own text, edited in place for another model or the usage option, and serializes a body it cannot edit surely", async () => {
    // Spacing, key order and `1.0` survive only if the bytes are the client's.
    const text =
      '{"messages":[{"role":"user","content":"hi"}],  "model" : "gpt-4o-mini","temperature":1.0}'
    const body = JSON.parse(text) as Record<string, unknown>
    const transport = createReplayTransport([
      { body: chatTextJson },
      { body: chatTextJson },
      { body: 'data: [DONE]\n\n' },
      { body: chatTextJson },
      { body: 'data: [DONE]\n\n' },
      { body: 'data: [DONE]\n\n' },
    ])
    const adapter = createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) })
    await adapter.forward!(forwardRequest(body, { model: 'gpt-4o-mini', text }), call)
    expect(transport.requests[0].body).toBe(text)

    // Another upstream model: the same text with that model's name in place.
    await adapter.forward!(forwardRequest(body, { model: 'gpt-4o-mini-2024-07-18', text }), call)
    expect(transport.requests[1].body).toBe(
      '{"messages":[{"role":"user","content":"hi"}],  "model" : "gpt-4o-mini-2024-07-18","temperature":1.0}'
    )

    // A stream whose client did not ask for usage: the gateway asks for it, in front of the client's members.
    const streamText = '{"model":"openai/gpt-4o-mini", "stream":true,"messages":[]}'
    const streamBody = JSON.parse(streamText) as Record<string, unknown>
    await adapter.forward!(
      forwardRequest(streamBody, { model: 'gpt-4o-mini', text: streamText }),
      call
    )
    expect(transport.requests[2].body).toBe(
      '{"stream_options":{"include_usage":true},"model":"gpt-4o-mini", "stream":true,"messages":[]}'
    )

    // A second "model" key (nested here) makes the edit unsure: the body is serialized, with the routed model.
    const nestedText = '{"model":"a","metadata":{"model":"a"},"messages":[]}'
    const nested = JSON.parse(nestedText) as Record<string, unknown>
    await adapter.forward!(forwardRequest(nested, { model: 'b', text: nestedText }), call)
    expect(transport.requests[3].body).toBe(JSON.stringify({ ...nested, model: 'b' }))

    // stream_options given without include_usage: merged by serializing, the client's option kept.
    const optionsText =
      '{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_obfuscation":false},"messages":[]}'
    const options = JSON.parse(optionsText) as Record<string, unknown>
    await adapter.forward!(
      forwardRequest(options, { model: 'gpt-4o-mini', text: optionsText }),
      call
    )
    expect(sentBody(transport, 4)).toEqual({
      ...options,
      stream_options: { include_obfuscation: false, include_usage: true },
    })

    // A server that needs the body rewritten (no `developer` role) gets the rewrite, never the client's text.
    const developerText =
      '{"model":"m","messages":[{"role":"developer","content":"x"}],"stream":true}'
    await createOpenAIAdapter({ id: 'ollama', compat: legacyCompat, ...settingsFor(transport) })
      .forward!(
      forwardRequest(JSON.parse(developerText) as Record<string, unknown>, {
        model: 'm',
        text: developerText,
      }),
      call
    )
    expect(sentBody(transport, 5)).toMatchObject({ messages: [{ role: 'system', content: 'x' }] })
  })

  it('sends no authorization header when the provider has no key (a local vLLM)', async () => {
    const transport = createReplayTransport([{ body: chatTextJson }])
    await createOpenAIAdapter({
      id: 'vllm',
      ...settingsFor(transport, { apiKey: undefined, baseUrl: 'http://127.0.0.1:8000/v1' }),
    }).forward!(forwardRequest({ messages: [] }), call)
    expect(transport.requests[0].url).toBe('http://127.0.0.1:8000/v1/chat/completions')
    expect(transport.requests[0].headers).not.toHaveProperty('authorization')
  })

  it('rewrites what a limited OpenAI-compatible server does not accept, without touching the client body', async () => {
    const transport = createReplayTransport([{ body: 'data: [DONE]\n\n' }])
    const messages = [
      { role: 'developer', content: 'Answer in French.' },
      { role: 'user', content: 'Hello' },
    ]
    const body = {
      model: 'm',
      messages,
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 64,
    }
    await createOpenAIAdapter({ id: 'ollama', compat: legacyCompat, ...settingsFor(transport) })
      .forward!(forwardRequest(body, { model: 'llama3' }), call)
    expect(sentBody(transport)).toEqual({
      model: 'llama3',
      messages: [
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: 'Hello' },
      ],
      stream: true,
      max_tokens: 64,
    })
    expect(messages[0].role).toBe('developer')
    expect(body).toHaveProperty('stream_options')
  })

  it('keeps developer, stream_options and max_completion_tokens for the real OpenAI API', async () => {
    const transport = createReplayTransport([{ body: 'data: [DONE]\n\n' }])
    const body = {
      messages: [{ role: 'developer', content: 'x' }],
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 64,
    }
    await createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).forward!(
      forwardRequest(body),
      call
    )
    expect(sentBody(transport)).toEqual({ ...body, model: 'gpt-4o-mini-2024-07-18' })
  })

  it('posts embeddings to /embeddings', async () => {
    const transport = createReplayTransport([{ body: embeddingsJson }])
    const body = { model: 'embed', input: ['a', 'b'], encoding_format: 'base64' }
    await createOpenAIAdapter({ id: 'openai', compat: legacyCompat, ...settingsFor(transport) })
      .forward!(
      forwardRequest(body, { operation: 'embeddings', model: 'text-embedding-3-small' }),
      call
    )
    expect(transport.requests[0].url).toBe('https://api.openai.com/v1/embeddings')
    expect(sentBody(transport)).toEqual({ ...body, model: 'text-embedding-3-small' })
  })

  it('refuses count-tokens, which the OpenAI API does not have, without calling the upstream', async () => {
    const transport = createReplayTransport([])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).forward!(
        forwardRequest({}, { operation: 'count-tokens' }),
        call
      )
    )
    expect(error).toMatchObject({ kind: 'unsupported', status: 400, retryable: false })
    expect(transport.requests).toHaveLength(0)
  })

  it('turns a 401 into an error with the key redacted from the message and the log detail', async () => {
    const transport = createReplayTransport([{ status: 401, body: error401InvalidKeyJson }])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).forward!(
        forwardRequest({}),
        call
      )
    )
    expect(error).toMatchObject({
      kind: 'http',
      status: 401,
      type: 'invalid_request_error',
      code: 'invalid_api_key',
      param: null,
      retryable: false,
      providerId: 'openai',
    })
    expect(error.message).toMatch(/^Incorrect API key provided: sk-\*\*\*/)
    expect(error.message).not.toContain('Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z')
    expect(error.detail).toContain('invalid_api_key')
    expect(error.detail).not.toContain('Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z')
    expect(transport.released[0]).toBe(true)
  })

  it('keeps a 429 retryable and reads how long to wait from retry-after-ms', async () => {
    const transport = createReplayTransport([
      {
        status: 429,
        headers: { 'retry-after-ms': '120', 'retry-after': '1' },
        body: error429RateLimitJson,
      },
    ])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).forward!(
        forwardRequest({}),
        call
      )
    )
    expect(error).toMatchObject({
      status: 429,
      retryable: true,
      retryAfterMs: 120,
      type: 'requests',
      code: 'rate_limit_exceeded',
    })
  })

  it('keeps context_length_exceeded and its param so clients can match on them', async () => {
    const transport = createReplayTransport([{ status: 400, body: error400ContextLengthJson }])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).forward!(
        forwardRequest({}),
        call
      )
    )
    expect(error).toMatchObject({
      status: 400,
      retryable: false,
      code: 'context_length_exceeded',
      param: 'messages',
    })
    expect(error.message).toMatch(/maximum context length is 128000 tokens/)
  })

  it('honours x-should-retry: false from the upstream', async () => {
    const transport = createReplayTransport([
      {
        status: 503,
        headers: { 'x-should-retry': 'false' },
        body: '{"error":{"message":"down","type":"server_error"}}',
      },
    ])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).forward!(
        forwardRequest({}),
        call
      )
    )
    expect(error).toMatchObject({ status: 503, retryable: false, message: 'down' })
  })

  it('uses a generic message when the error body is not an OpenAI error (a proxy HTML page)', async () => {
    const html =
      '<html><body>502 Bad Gateway Authorization: Bearer sk-live-abcdef123456</body></html>'
    const transport = createReplayTransport([
      { status: 502, headers: { 'content-type': 'text/html' }, body: html },
    ])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).forward!(
        forwardRequest({}),
        call
      )
    )
    expect(error).toMatchObject({
      kind: 'http',
      status: 502,
      retryable: true,
      type: null,
      code: null,
    })
    expect(error.message).toBe('The upstream provider answered with HTTP 502.')
    expect(error.detail).not.toContain('abcdef123456')
  })

  it('reads the message of a compatible server that sends the error as a string', async () => {
    const transport = createReplayTransport([
      { status: 404, body: '{"error":"model \\"llama9\\" not found, try pulling it first"}' },
    ])
    const error = await rejection(
      createOpenAIAdapter({ id: 'ollama', ...settingsFor(transport) }).forward!(
        forwardRequest({}),
        call
      )
    )
    expect(error).toMatchObject({
      status: 404,
      message: 'model "llama9" not found, try pulling it first',
    })
  })

  it('stops reading a huge error body after 64 KiB and releases it', async () => {
    const huge = `{"error":{"message":"${'x'.repeat(200_000)}"}}`
    const transport = createReplayTransport([
      { status: 500, body: huge, chunkSizes: everyBytes(huge, 16_384) },
    ])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).forward!(
        forwardRequest({}),
        call
      )
    )
    expect(error.message).toBe('The upstream provider answered with HTTP 500.')
    expect(error.detail!.length).toBeLessThanOrEqual(64 * 1024)
    expect(transport.cancelled[0]).toBe(true)
  })
})

describe('requestStored', () => {
  it('asks for a stored response, its input items, its deletion or its cancellation with the gateway key, query passed on', async () => {
    const transport = createReplayTransport([
      { body: '{"object":"response"}' },
      { body: '{"object":"list","data":[]}' },
      { body: '{"deleted":true}' },
      { body: '{"object":"response","status":"cancelled"}' },
    ])
    const adapter = createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) })
    await adapter.requestStored!(
      { operation: 'responses', method: 'GET', id: 'resp_1', query: [['include[]', 'a.b']] },
      call
    )
    await adapter.requestStored!(
      {
        operation: 'responses',
        method: 'GET',
        id: 'resp/../x',
        part: 'input_items',
        query: [
          ['order', 'asc'],
          ['limit', '2'],
        ],
      },
      call
    )
    await adapter.requestStored!(
      { operation: 'responses', method: 'DELETE', id: 'resp_1', query: [] },
      call
    )
    await adapter.requestStored!(
      { operation: 'responses', method: 'POST', id: 'resp_1', part: 'cancel', query: [] },
      call
    )
    expect(transport.requests.map((request) => [request.method, request.url])).toEqual([
      ['GET', 'https://api.openai.com/v1/responses/resp_1?include%5B%5D=a.b'],
      // The id is one path segment, whatever it holds.
      ['GET', 'https://api.openai.com/v1/responses/resp%2F..%2Fx/input_items?order=asc&limit=2'],
      ['DELETE', 'https://api.openai.com/v1/responses/resp_1'],
      ['POST', 'https://api.openai.com/v1/responses/resp_1/cancel'],
    ])
    expect(transport.requests[0].headers.authorization).toBe('Bearer sk-gateway-key-000000')
    expect(transport.requests[0].body).toBeUndefined()
    // The cancel sends no body, so it claims no JSON content type.
    expect(transport.requests[3].headers.authorization).toBe('Bearer sk-gateway-key-000000')
    expect(transport.requests[3].body).toBeUndefined()
    expect(transport.requests[3].headers['content-type']).toBeUndefined()
  })

  it('throws the upstream error (a 404 kept as such), and refuses where the server has no Responses API', async () => {
    const transport = createReplayTransport([
      {
        status: 404,
        body: '{"error":{"message":"Response with id \'resp_x\' not found.","type":"invalid_request_error","param":null,"code":null}}',
      },
    ])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).requestStored!(
        { operation: 'responses', method: 'GET', id: 'resp_x', query: [] },
        call
      )
    )
    expect(error).toMatchObject({
      kind: 'http',
      status: 404,
      message: "Response with id 'resp_x' not found.",
    })
    const legacy = createReplayTransport([])
    const refused = await rejection(
      createOpenAIAdapter({
        id: 'vllm',
        compat: legacyCompat,
        ...settingsFor(legacy),
      }).requestStored!({ operation: 'responses', method: 'GET', id: 'resp_x', query: [] }, call)
    )
    expect(refused).toMatchObject({ kind: 'unsupported', status: 400 })
    expect(legacy.requests).toHaveLength(0)
  })
})

describe('chat', () => {
  it('converts the request and reads a completion into the canonical result', async () => {
    const transport = createReplayTransport([{ body: chatTextJson }])
    const result = await createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).chat(
      chatRequest({ temperature: 0.2, topK: 40 }),
      call
    )
    expect(sentBody(transport)).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Capital of France?' },
      ],
      max_completion_tokens: 100,
      temperature: 0.2,
    })
    expect(result).toEqual(chatTextAnswer)
  })

  it('reads parallel tool calls with their ids, names and argument JSON text', async () => {
    const transport = createReplayTransport([{ body: chatToolCallsJson }])
    const result = await createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).chat(
      chatRequest(),
      call
    )
    expect(result.choices[0].content).toEqual([
      {
        type: 'tool-call',
        id: 'call_Vx3nB8qLr2TzK5mWc9YpD1aF',
        name: 'get_weather',
        arguments: '{"city":"Paris","unit":"celsius"}',
      },
      {
        type: 'tool-call',
        id: 'call_Hq7sN4eJw0UbG6tXr2ZkM8oC',
        name: 'get_weather',
        arguments: '{"city":"Tokyo","unit":"celsius"}',
      },
    ])
    expect(result.choices[0].finishReason).toEqual({ unified: 'tool-calls', raw: 'tool_calls' })
    expect(result.usage).toMatchObject({
      inputTokens: 1530,
      cachedInputTokens: 1280,
      outputTokens: 52,
    })
  })

  it('sends max_tokens to a server without max_completion_tokens', async () => {
    const transport = createReplayTransport([{ body: chatTextJson }])
    await createOpenAIAdapter({ id: 'vllm', compat: legacyCompat, ...settingsFor(transport) }).chat(
      chatRequest(),
      call
    )
    expect(sentBody(transport)).toMatchObject({ max_tokens: 100 })
    expect(sentBody(transport)).not.toHaveProperty('max_completion_tokens')
  })

  it('fails with a 502 bad-response when a 2xx body is not JSON', async () => {
    const transport = createReplayTransport([{ body: '<html>upstream maintenance</html>' }])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).chat(chatRequest(), call)
    )
    expect(error).toMatchObject({ kind: 'bad-response', status: 502, retryable: false })
  })

  it('fails with a 502 bad-response when a 2xx body has no choices', async () => {
    const transport = createReplayTransport([{ body: '{"id":"x","object":"chat.completion"}' }])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).chat(chatRequest(), call)
    )
    expect(error).toMatchObject({ kind: 'bad-response', status: 502 })
  })

  it('throws the upstream HTTP error', async () => {
    const transport = createReplayTransport([{ status: 400, body: error400ContextLengthJson }])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).chat(chatRequest(), call)
    )
    expect(error).toMatchObject({ kind: 'http', status: 400, code: 'context_length_exceeded' })
  })
})

describe('streamChat', () => {
  const streamOf = async (replay: Replay, compat?: OpenAICompat) => {
    const transport = createReplayTransport([replay])
    const stream = await createOpenAIAdapter({
      id: 'openai',
      compat,
      ...settingsFor(transport),
    }).streamChat(chatRequest({ stream: true }), call)
    return { transport, ...(await readAll(stream)) }
  }

  it('asks for usage in the stream and yields start, text, finish and usage', async () => {
    const body = chatTextSse
    const { transport, chunks, error } = await streamOf({ body, chunkSizes: everyBytes(body, 7) })
    expect(error).toBeUndefined()
    expect(sentBody(transport)).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 100,
    })
    expect(chunks[0]).toEqual({
      type: 'start',
      id: 'chatcmpl-C3xMa1bXk8YqP4rT6nVs2Lw0Gd9Hf',
      model: 'gpt-4o-mini-2024-07-18',
      created: 1754651301,
    })
    expect(textOf(chunks)).toBe('The capital of France is Paris.')
    expect(chunks.slice(-2)).toEqual([
      { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
      {
        type: 'usage',
        usage: {
          inputTokens: 24,
          outputTokens: 7,
          cachedInputTokens: 0,
          cacheWriteInputTokens: null,
          reasoningTokens: 0,
        },
      },
    ])
    expect(transport.released[0]).toBe(true)
  })

  it('reads a stream framed with \\r\\n and split one byte at a time', async () => {
    const body = chatTextSse.replaceAll('\n', '\r\n')
    const { chunks, error } = await streamOf({ body, chunkSizes: everyBytes(body, 1) })
    expect(error).toBeUndefined()
    expect(textOf(chunks)).toBe('The capital of France is Paris.')
    expect(chunks.at(-1)?.type).toBe('usage')
  })

  it('does not send stream_options to a server that rejects them', async () => {
    const { transport } = await streamOf({ body: chatTextSse }, legacyCompat)
    expect(sentBody(transport)).toMatchObject({ stream: true, max_tokens: 100 })
    expect(sentBody(transport)).not.toHaveProperty('stream_options')
  })

  it('yields tool-call fragments with id and name only on the first one', async () => {
    const body = chatToolCallsSse
    const { chunks } = await streamOf({ body, chunkSizes: everyBytes(body, 13) })
    const calls = chunks.filter((chunk) => chunk.type === 'tool-call-delta')
    expect(calls[0]).toEqual({
      type: 'tool-call-delta',
      choiceIndex: 0,
      index: 0,
      id: 'call_Vx3nB8qLr2TzK5mWc9YpD1aF',
      name: 'get_weather',
      argumentsDelta: '',
    })
    expect(
      calls.filter((call) => call.id !== undefined).map((call) => [call.index, call.name])
    ).toEqual([
      [0, 'get_weather'],
      [1, 'get_time'],
    ])
    const argumentsOf = (index: number): string =>
      calls
        .filter((call) => call.index === index)
        .map((call) => call.argumentsDelta)
        .join('')
    expect(JSON.parse(argumentsOf(0))).toEqual({ city: 'Paris' })
    expect(JSON.parse(argumentsOf(1))).toEqual({ timezone: 'Asia/Tokyo' })
    expect(chunks.find((chunk) => chunk.type === 'finish')).toMatchObject({
      finishReason: { unified: 'tool-calls' },
    })
    expect(chunks.at(-1)).toMatchObject({ type: 'usage', usage: { cachedInputTokens: 1280 } })
  })

  it('tells calls apart by their ids when a server leaves `index` out, one call or several to a chunk', async () => {
    const sse = (toolCalls: unknown[]) =>
      `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { tool_calls: toolCalls }, finish_reason: null }] })}\n\n`
    const fn = (args: string, id?: string, name?: string) => ({
      ...(id ? { id, type: 'function' } : {}),
      function: { ...(name ? { name } : {}), arguments: args },
    })
    const body =
      sse([fn('{"command":', 'call_a', 'shell')]) +
      sse([fn('"ls"}')]) +
      sse([fn('{"command":"pwd"}', 'call_b', 'shell')]) +
      sse([fn('{"q":1}', 'call_c', 'find'), fn('{"q":2}', 'call_d', 'find')]) +
      'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\ndata: [DONE]\n\n'
    const { chunks, error } = await streamOf({ body })
    expect(error).toBeUndefined()
    const calls = chunks.flatMap((chunk) => (chunk.type === 'tool-call-delta' ? [chunk] : []))
    const argumentsOf = (index: number) =>
      calls
        .filter((call) => call.index === index)
        .map((call) => call.argumentsDelta)
        .join('')
    expect(calls.filter((call) => call.id).map((call) => [call.index, call.id])).toEqual([
      [0, 'call_a'],
      [1, 'call_b'],
      [2, 'call_c'],
      [3, 'call_d'],
    ])
    expect([0, 1, 2, 3].map(argumentsOf)).toEqual([
      '{"command":"ls"}',
      '{"command":"pwd"}',
      '{"q":1}',
      '{"q":2}',
    ])
  })

  it('reads vLLM reasoning_content, skips keep-alive comments, and keeps unknown usage details null', async () => {
    const body = chatReasoningVllmSse
    const { chunks, error } = await streamOf({ body, chunkSizes: everyBytes(body, 5) })
    expect(error).toBeUndefined()
    const reasoning = chunks
      .flatMap((chunk) => (chunk.type === 'reasoning-delta' ? [chunk.delta] : []))
      .join('')
    expect(reasoning).toBe('The user asks 2+2.')
    expect(textOf(chunks)).toBe('2 + 2 = 4')
    expect(chunks.at(-1)).toEqual({
      type: 'usage',
      usage: {
        inputTokens: 12,
        outputTokens: 19,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    })
  })

  it('errors the stream with the upstream message when an error chunk arrives mid-way', async () => {
    const { chunks, error } = await streamOf({ body: chatErrorMidwaySse })
    expect(textOf(chunks)).toBe('Once upon')
    expect(error).toBeInstanceOf(ProviderError)
    expect(error).toMatchObject({
      type: 'server_error',
      message: 'The server had an error while processing your request. Sorry about that!',
    })
  })

  it('errors the stream when the upstream closes it before finishing', async () => {
    const full = chatTextSse
    const cut = full.slice(0, full.indexOf('" Paris"'))
    const { chunks, error } = await streamOf({ body: cut })
    expect(textOf(chunks)).toBe('The capital of France is')
    expect(error).toMatchObject({
      kind: 'bad-response',
      status: 502,
      message: 'The upstream closed the stream before it finished.',
    })
  })

  it('errors the stream on a chunk that is not JSON', async () => {
    const body =
      'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}\n\ndata: {"id": oops\n\ndata: [DONE]\n\n'
    const { error } = await streamOf({ body })
    expect(error).toMatchObject({
      kind: 'bad-response',
      status: 502,
      message: 'The upstream sent a stream chunk that is not valid JSON.',
    })
  })

  it('passes on a connection failure in the middle of the body as a ProviderError', async () => {
    const body = chatTextSse.slice(0, 600)
    const { error } = await streamOf({ body, failWith: new TypeError('terminated') })
    expect(error).toMatchObject({ kind: 'connection', status: 502, retryable: true })
  })

  it('rejects before returning a stream when the upstream answers with an HTTP error', async () => {
    const transport = createReplayTransport([
      { status: 429, headers: { 'retry-after': '2' }, body: error429RateLimitJson },
    ])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).streamChat(
        chatRequest({ stream: true }),
        call
      )
    )
    expect(error).toMatchObject({ status: 429, retryAfterMs: 2000 })
  })

  it('cancels the upstream body when the consumer cancels', async () => {
    const body = chatTextSse
    const transport = createReplayTransport([{ body, chunkSizes: everyBytes(body, 64) }])
    const stream = await createOpenAIAdapter({
      id: 'openai',
      ...settingsFor(transport),
    }).streamChat(chatRequest({ stream: true }), call)
    const reader = stream.getReader()
    expect((await reader.read()).value).toMatchObject({ type: 'start' })
    await reader.cancel('client went away')
    expect(transport.cancelled[0]).toBe(true)
  })
})

describe('listModels', () => {
  it('lists the advertised models with their creation time and owner', async () => {
    const transport = createReplayTransport([{ body: modelsJson }])
    const models = await createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) })
      .listModels!(call)
    expect(transport.requests[0]).toMatchObject({
      url: 'https://api.openai.com/v1/models',
      method: 'GET',
    })
    expect(transport.requests[0].headers).not.toHaveProperty('content-type')
    expect(models).toEqual([
      { id: 'gpt-4o-mini', created: 1721172741, ownedBy: 'system' },
      { id: 'text-embedding-3-small', created: 1705948997, ownedBy: 'system' },
      { id: 'ft:gpt-4o-mini-2024-07-18:acme::9xYz1AbC', created: 1722470000, ownedBy: 'acme-org' },
    ])
  })

  it('throws the upstream error', async () => {
    const transport = createReplayTransport([{ status: 401, body: error401InvalidKeyJson }])
    const error = await rejection(
      createOpenAIAdapter({ id: 'openai', ...settingsFor(transport) }).listModels!(call)
    )
    expect(error).toMatchObject({ status: 401, code: 'invalid_api_key' })
  })
})

describe('a model served only through the Responses API', () => {
  const responsesOnly = (model: string) => model === 'o3-pro'
  const adapterFor = (transport: UpstreamTransport, compat?: OpenAICompat) =>
    createOpenAIAdapter({ id: 'openai', compat, responsesOnly, ...settingsFor(transport) })

  it('is not forwarded to /chat/completions; other models and operations still are', () => {
    const adapter = adapterFor(createReplayTransport([]))
    expect(adapter.forwardsModel?.('chat-completions', 'o3-pro')).toBe(false)
    expect(adapter.forwardsModel?.('chat-completions', 'gpt-4o-mini')).toBe(true)
    expect(adapter.forwardsModel?.('responses', 'o3-pro')).toBe(true)
    // A server without the Responses API keeps Chat Completions for every model.
    expect(
      adapterFor(createReplayTransport([]), legacyCompat).forwardsModel?.(
        'chat-completions',
        'o3-pro'
      )
    ).toBe(true)
  })

  it('chats through POST /responses and reads the Response back', async () => {
    const transport = createReplayTransport([{ body: responsesTextJson }])
    const result = await adapterFor(transport).chat(chatRequest({ model: 'o3-pro' }), call)
    expect(transport.requests[0].url).toBe('https://api.openai.com/v1/responses')
    expect(transport.requests[0].headers.authorization).toBe('Bearer sk-gateway-key-000000')
    expect(sentBody(transport)).toEqual({
      model: 'o3-pro',
      instructions: 'Be brief.',
      input: [{ type: 'message', role: 'user', content: 'Capital of France?' }],
      max_output_tokens: 100,
      store: false,
    })
    expect(result.choices[0].content.at(-1)).toEqual({ type: 'text', text: 'echo: hello there' })
    expect(result.usage).toMatchObject({ inputTokens: 44, outputTokens: 13, reasoningTokens: 8 })
    expect(transport.released[0]).toBe(true)
  })

  it('keeps Chat Completions for other models', async () => {
    const transport = createReplayTransport([{ body: chatTextJson }])
    await adapterFor(transport).chat(chatRequest(), call)
    expect(transport.requests[0].url).toBe('https://api.openai.com/v1/chat/completions')
  })

  it('streams through POST /responses with stream: true and yields tool-call chunks', async () => {
    const transport = createReplayTransport([
      { body: responsesToolCallsSse, chunkSizes: everyBytes(responsesToolCallsSse, 11) },
    ])
    const stream = await adapterFor(transport).streamChat(
      chatRequest({ model: 'o3-pro', stream: true }),
      call
    )
    const { chunks, error } = await readAll(stream)
    expect(error).toBeUndefined()
    expect(sentBody(transport)).toMatchObject({ stream: true, store: false })
    expect(sentBody(transport)).not.toHaveProperty('stream_options')
    expect(chunks[0]).toMatchObject({ type: 'start', model: 'gpt-5-codex' })
    const args = chunks.flatMap((chunk) =>
      chunk.type === 'tool-call-delta' && chunk.index === 1 ? [chunk.argumentsDelta] : []
    )
    expect(args.join('')).toBe('{"zone":"sample zone"}')
    expect(chunks.find((chunk) => chunk.type === 'finish')).toMatchObject({
      finishReason: { unified: 'tool-calls' },
    })
    expect(transport.released[0]).toBe(true)
  })

  it('errors the stream with the upstream error a failed response carries', async () => {
    const transport = createReplayTransport([{ body: responsesErrorMidwaySse }])
    const stream = await adapterFor(transport).streamChat(
      chatRequest({ model: 'o3-pro', stream: true }),
      call
    )
    const { chunks, error } = await readAll(stream)
    expect(textOf(chunks)).toBe('echo:')
    expect(error).toBeInstanceOf(ProviderError)
    expect(error).toMatchObject({ kind: 'http', code: 'server_error', providerId: 'openai' })
  })

  it('throws the HTTP error /responses answers', async () => {
    const transport = createReplayTransport([{ status: 401, body: error401InvalidKeyJson }])
    const error = await rejection(
      adapterFor(transport).chat(chatRequest({ model: 'o3-pro' }), call)
    )
    expect(error).toMatchObject({ kind: 'http', status: 401 })
  })

  it('fails with a 502 bad-response when a 2xx body is not a Response', async () => {
    const transport = createReplayTransport([{ body: '{"object":"list","data":[]}' }])
    const error = await rejection(
      adapterFor(transport).chat(chatRequest({ model: 'o3-pro' }), call)
    )
    expect(error).toMatchObject({ kind: 'bad-response', status: 502 })
  })
})
