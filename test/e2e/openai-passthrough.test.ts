/**
 * OpenAI SDK → gateway → OpenAI upstream (same dialect: the gateway forwards the body with the model rewritten and
 * streams the upstream bytes back). Every OpenAI-shaped answer is checked against OpenAI's OpenAPI document.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  MOCK_OPENAI_API_KEY,
  mockEmbedding,
  openAIErrorBody,
} from '../helpers/mock-openai-upstream.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import {
  COMPAT_API_KEY,
  COMPAT_EMBEDDING_MODEL,
  E2E_MASTER_KEY,
  startE2EGateway,
  withoutIdentity,
} from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const model = 'openai/gpt-4o-mini'
const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}
const timeTool = {
  type: 'function' as const,
  function: { name: 'get_time', parameters: { type: 'object', properties: {} } },
}
const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as InstanceType<typeof OpenAI.APIError>
  )

describe('OpenAI client → gateway → OpenAI upstream', () => {
  let gateway: E2EGateway
  let client: OpenAI
  beforeAll(async () => {
    preloadOpenAIValidator()
    gateway = await startE2EGateway({ openai: { streamChunks: 4, cacheReadTokens: 3 } })
    client = gateway.openAIClient()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  it('answers exactly what the upstream answered, with the model rewritten and our key swapped for the provider key', async () => {
    const completion = await client.chat.completions.create({
      model,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hello gateway' },
      ],
    })
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    const upstream = gateway.openai.requests.find(
      (request) => request.path === '/v1/chat/completions'
    )!
    expect(upstream.body).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [{ role: 'system' }, { role: 'user', content: 'hello gateway' }],
    })
    expect(upstream.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
    expect(JSON.stringify(upstream.headers)).not.toContain(E2E_MASTER_KEY)
    const expected = await gateway.upstreamAnswer('openai', upstream)
    expect(withoutIdentity({ ...completion })).toEqual(withoutIdentity(expected))
    expect(completion.choices[0].message.content).toBe('echo: hello gateway')
    expect(completion.usage?.prompt_tokens_details?.cached_tokens).toBe(3)
    expect(completion._request_id).toBeTruthy()
  })

  it("forwards the client's own bytes, with only the model's name edited when the route names another, and the usage option added to a stream", async () => {
    const post = (text: string) =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${E2E_MASTER_KEY}`, 'content-type': 'application/json' },
        body: text,
      })
    // Spacing, key order and `1.0` reach the upstream only if the gateway sends the client's bytes.
    const text =
      '{"messages":[{"role":"user","content":"same bytes"}],  "model":"gpt-4o-mini","temperature":1.0}'
    const same = await post(text)
    expect(same.status).toBe(200)
    expect((await same.json()).choices[0].message.content).toBe('echo: same bytes')
    expect(gateway.openai.requests.at(-1)!.text).toBe(text)

    // The provider's prefix dropped in place: the rest of the text as the client wrote it.
    const renamed = await post(text.replace('"gpt-4o-mini"', '"openai/gpt-4o-mini"'))
    expect(renamed.status).toBe(200)
    expect(gateway.openai.requests.at(-1)!.text).toBe(text)

    // A stream whose client did not ask for usage: the gateway's option goes in front, the client's text after it.
    const streamText =
      '{"messages":[{"role":"user","content":"same bytes"}],  "model":"openai/gpt-4o-mini","stream":true}'
    const streamed = await post(streamText)
    expect(streamed.status).toBe(200)
    await streamed.text()
    expect(gateway.openai.requests.at(-1)!.text).toBe(
      '{"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"same bytes"}],  "model":"gpt-4o-mini","stream":true}'
    )
  })

  it('streams the upstream chunks unchanged, ending with the choices:[] usage chunk when include_usage is asked', async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'stream it' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    expect(chunks[0].choices[0].delta.role).toBe('assistant')
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(
      'echo: stream it'
    )
    expect(
      chunks
        .slice(0, -2)
        .every((chunk) => chunk.choices[0].finish_reason === null && chunk.usage === null)
    ).toBe(true)
    expect(chunks.at(-2)?.choices[0].finish_reason).toBe('stop')
    const upstream = gateway.openai.requests.find(
      (request) => request.path === '/v1/chat/completions'
    )!
    const expected = (await gateway.upstreamAnswer(
      'openai',
      upstream
    )) as unknown as OpenAI.ChatCompletion
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: expected.usage })
    expect(chunks.at(-1)).toHaveProperty('obfuscation')
  })

  it('sends no usage key at all to a client that did not ask for include_usage', async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'no usage please' }],
      stream: true,
    })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    expect(chunks.some((chunk) => 'usage' in chunk)).toBe(false)
    expect(chunks.every((chunk) => chunk.choices.length === 1)).toBe(true)
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe('stop')
  })

  it('passes a tool call through, and the answer to its result', async () => {
    const first = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'use tool please' }],
      tools: [weatherTool],
    })
    expectValidOpenAI('CreateChatCompletionResponse', first)
    const call = first.choices[0].message
      .tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall
    expect(first.choices[0].finish_reason).toBe('tool_calls')
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'sample city' })
    const second = await client.chat.completions.create({
      model,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'use tool please' },
        first.choices[0].message as OpenAI.ChatCompletionAssistantMessageParam,
        { role: 'tool', tool_call_id: call.id, content: 'sunny, 21°C' },
      ],
    })
    expectValidOpenAI('CreateChatCompletionResponse', second)
    expect(second.choices[0].message.content).toBe('tool result received: sunny, 21°C')
  })

  it('streams parallel tool calls as fragments that the SDK helper assembles', async () => {
    const stream = client.chat.completions.stream({
      model,
      messages: [{ role: 'user', content: 'use tools in parallel please' }],
      tools: [weatherTool, timeTool],
    })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    stream.on('chunk', (chunk) => chunks.push(chunk))
    const final = await stream.finalChatCompletion()
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    const calls = final.choices[0].message
      .tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]
    expect(
      calls.map((entry) => [entry.function.name, JSON.parse(entry.function.arguments)])
    ).toEqual([
      ['get_weather', { city: 'sample city' }],
      ['get_time', {}],
    ])
    expect(final.choices[0].finish_reason).toBe('tool_calls')
  })

  it('returns float embeddings and base64 embeddings that decode to the upstream values', async () => {
    const floats = await client.embeddings.create({
      model: 'openai/text-embedding-3-small',
      input: ['one', 'two'],
      encoding_format: 'float',
    })
    expectValidOpenAI('CreateEmbeddingResponse', floats)
    expect(floats.data.map((item) => item.embedding)).toEqual([
      mockEmbedding('one', 8),
      mockEmbedding('two', 8),
    ])
    expect(floats.model).toBe('text-embedding-3-small')
    const decoded = await client.embeddings.create({
      model: 'openai/text-embedding-3-small',
      input: 'three',
    })
    expect(decoded.data[0].embedding).toEqual(mockEmbedding('three', 8))
  })

  it('answers base64 when the client asks, even from an OpenAI-compatible upstream that only returns floats', async () => {
    const decoded = await client.embeddings.create({
      model: `compat/${COMPAT_EMBEDDING_MODEL}`,
      input: 'compatible',
    })
    expect(decoded.data[0].embedding).toEqual(mockEmbedding('compatible', 8))
    const upstream = gateway.compat.requests.find((request) => request.path === '/v1/embeddings')!
    expect(upstream.headers.authorization).toBe(`Bearer ${COMPAT_API_KEY}`)
    const raw = await fetch(`${gateway.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${E2E_MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: `compat/${COMPAT_EMBEDDING_MODEL}`,
        input: 'compatible',
        encoding_format: 'base64',
      }),
    })
    const body = await raw.json()
    expect(typeof body.data[0].embedding).toBe('string')
  })

  it('lists models with provider-prefixed ids and retrieves one whose id has a slash (sent as %2F or literally)', async () => {
    const page = await client.models.list()
    expectValidOpenAI('ListModelsResponse', { object: 'list', data: page.data })
    const ids = page.data.map((entry) => entry.id)
    expect(ids).toEqual(
      expect.arrayContaining(['openai/gpt-4o-mini', 'openai/gpt-4o', 'anthropic/claude-opus-4-7'])
    )
    const retrieved = await client.models.retrieve('openai/gpt-4o')
    expectValidOpenAI('Model', retrieved)
    expect(retrieved.id).toBe('openai/gpt-4o')
    const literal = await fetch(`${gateway.url}/v1/models/openai/gpt-4o`, {
      headers: { authorization: `Bearer ${E2E_MASTER_KEY}` },
    })
    expect(literal.status).toBe(200)
    expect((await literal.json()).id).toBe('openai/gpt-4o')
    // Aliases come first, owned by the gateway, and can be retrieved like any model.
    expect(page.data[0]).toMatchObject({ id: 'smart', object: 'model', owned_by: 'gatehouse' })
    expect(ids.filter((id) => id === 'smart')).toHaveLength(1)
    const alias = await client.models.retrieve('smart')
    expectValidOpenAI('Model', alias)
    expect(alias).toMatchObject({ id: 'smart', owned_by: 'gatehouse' })
    const missing = await caught(client.models.retrieve('openai/gpt-9'))
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError)
    expectValidOpenAI('ErrorResponse', { error: missing?.error })
  })

  it("keeps an upstream 4xx's message, type, param and code (clients match on context_length_exceeded)", async () => {
    const body = openAIErrorBody({
      message: "This model's maximum context length is 128000 tokens.",
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    })
    gateway.openai.enqueue({ status: 400, body })
    const error = await caught(
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'too long' }] })
    )
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect(error).toMatchObject({
      status: 400,
      code: 'context_length_exceeded',
      param: 'messages',
      type: 'invalid_request_error',
    })
    expect(error?.message).toContain('maximum context length')
    expectValidOpenAI('ErrorResponse', { error: error?.error })
  })

  it('retries a transient upstream 503 itself, so the client gets the answer', async () => {
    gateway.openai.enqueue({ status: 503 })
    const completion = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'retry me' }],
    })
    expect(completion.choices[0].message.content).toBe('echo: retry me')
    expect(
      gateway.openai.requests.filter((request) => request.path === '/v1/chat/completions')
    ).toHaveLength(2)
  })

  it('answers 502 when the upstream rejects our provider key (not the client’s fault)', async () => {
    gateway.openai.enqueue({ status: 401 })
    const error = await caught(
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] })
    )
    expect(error?.status).toBe(502)
    expectValidOpenAI('ErrorResponse', { error: error?.error })
    expect(JSON.stringify(error?.error)).not.toContain(MOCK_OPENAI_API_KEY)
  })

  it("carries the client's disconnect to the upstream request", async () => {
    gateway.openai.enqueue({ stallAfterChunks: 2 })
    const controller = new AbortController()
    const stream = await client.chat.completions.create(
      { model, messages: [{ role: 'user', content: 'then hang up' }], stream: true },
      { signal: controller.signal }
    )
    const iterator = stream[Symbol.asyncIterator]()
    expect((await iterator.next()).value.choices[0].delta.role).toBe('assistant')
    const upstream = gateway.openai.requests.find(
      (request) => request.path === '/v1/chat/completions'
    )!
    expect(upstream.aborted).toBe(false)
    controller.abort()
    await caught(iterator.next())
    expect(await upstream.settled).toBe('aborted')
  })

  it('ends the stream with an error the SDK raises when the upstream connection drops mid-stream', async () => {
    gateway.openai.enqueue({ dropAfterChunks: 3 })
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'drop me' }],
      stream: true,
    })
    const received: OpenAI.ChatCompletionChunk[] = []
    const error = await caught(
      (async () => {
        for await (const chunk of stream) received.push(chunk)
      })()
    )
    expect(error).toBeInstanceOf(Error)
    expect(received.length).toBeGreaterThanOrEqual(1)
    expect(received.every((chunk) => chunk.choices[0]?.finish_reason !== 'stop')).toBe(true)
  })
})
