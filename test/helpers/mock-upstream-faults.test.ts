import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MOCK_ANTHROPIC_API_KEY, startMockAnthropicUpstream } from './mock-anthropic-upstream.ts'
import {
  MOCK_OPENAI_API_KEY,
  openAIErrorBody,
  startMockOpenAIUpstream,
} from './mock-openai-upstream.ts'
import type { MockUpstream } from './mock-upstream-server.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from './openapi-validator.ts'

const chat = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content: 'tell me something long enough' }],
}
const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error
  )
const pending = Symbol('pending')
const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise,
    new Promise<typeof pending>((resolve) => setTimeout(() => resolve(pending), ms)),
  ])

describe('fault injection on the mock OpenAI upstream', () => {
  let mock: MockUpstream
  const client = (options: { maxRetries?: number; timeout?: number } = {}) =>
    new OpenAI({
      apiKey: MOCK_OPENAI_API_KEY,
      baseURL: mock.baseUrl,
      maxRetries: options.maxRetries ?? 0,
      timeout: options.timeout,
    })
  beforeAll(async () => {
    preloadOpenAIValidator()
    mock = await startMockOpenAIUpstream({ streamChunks: 6 })
  })
  afterAll(() => mock.close())
  beforeEach(() => mock.reset())

  it('consumes faults one per request, in order, then answers normally again', async () => {
    mock.enqueue({ status: 500 }, { status: 503 })
    const first = await caught(client().chat.completions.create(chat))
    const second = await caught(client().chat.completions.create(chat))
    expect((first as InstanceType<typeof OpenAI.APIError>).status).toBe(500)
    expect((second as InstanceType<typeof OpenAI.APIError>).status).toBe(503)
    expectValidOpenAI('ErrorResponse', {
      error: (first as InstanceType<typeof OpenAI.APIError>).error,
    })
    const third = await client().chat.completions.create(chat)
    expect(third.choices[0].message.content).toBe('echo: tell me something long enough')
  })

  it('sends a 429 with retry-after-ms that the SDK obeys before its retry succeeds', async () => {
    mock.enqueue({ status: 429, headers: { 'retry-after-ms': '150' } })
    const started = Date.now()
    const completion = await client({ maxRetries: 1 }).chat.completions.create(chat)
    expect(completion.choices[0].finish_reason).toBe('stop')
    expect(Date.now() - started).toBeGreaterThanOrEqual(140)
    expect(mock.requests.map((request) => request.headers['x-stainless-retry-count'])).toEqual([
      '0',
      '1',
    ])
  })

  it('passes a custom error body through, e.g. a 400 context_length_exceeded', async () => {
    const body = openAIErrorBody({
      message: "This model's maximum context length is 128000 tokens.",
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    })
    mock.enqueue({ status: 400, body })
    const error = (await caught(client().chat.completions.create(chat))) as InstanceType<
      typeof OpenAI.APIError
    >
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect(error.code).toBe('context_length_exceeded')
    expect(error.param).toBe('messages')
  })

  it('delays headers and body; a client timeout during the delay reaches the mock as an abort', async () => {
    mock.enqueue({ delayFirstByteMs: 80 })
    const started = Date.now()
    await client().chat.completions.create(chat)
    expect(Date.now() - started).toBeGreaterThanOrEqual(75)

    mock.enqueue({ delayFirstByteMs: 2_000 })
    const error = await caught(client({ timeout: 100 }).chat.completions.create(chat))
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError)
    expect(await mock.requests[1].settled).toBe('aborted')
    expect(mock.requests[1].aborted).toBe(true)
  })

  it('stalls a stream after n chunks until the client aborts, and records the abort', async () => {
    mock.enqueue({ stallAfterChunks: 2 })
    const controller = new AbortController()
    const stream = await client().chat.completions.create(
      { ...chat, stream: true },
      { signal: controller.signal }
    )
    const iterator = stream[Symbol.asyncIterator]()
    expect((await iterator.next()).value.choices[0].delta.role).toBe('assistant')
    expect((await iterator.next()).value.choices[0].delta.content).toBeTypeOf('string')
    const third = iterator.next()
    expect(await within(third, 200)).toBe(pending)
    expect(mock.requests[0].aborted).toBe(false)
    controller.abort()
    await caught(third)
    expect(await mock.requests[0].settled).toBe('aborted')
    expect(mock.requests[0].aborted).toBe(true)
  })

  it('drops the connection mid-stream after exactly n chunks, which the client sees as an error (not an abort)', async () => {
    mock.enqueue({ dropAfterChunks: 3 })
    const stream = await client().chat.completions.create({ ...chat, stream: true })
    const received: OpenAI.ChatCompletionChunk[] = []
    const error = await caught(
      (async () => {
        for await (const chunk of stream) received.push(chunk)
      })()
    )
    expect(error).toBeInstanceOf(Error)
    expect(received).toHaveLength(3)
    expect(await mock.requests[0].settled).toBe('dropped')
    expect(mock.requests[0].aborted).toBe(false)
  })

  it('stalls and drops non-streaming answers too (a stall sends headers, then nothing)', async () => {
    mock.enqueue({ stallAfterChunks: 0 }, { dropAfterChunks: 1 })
    const stalled = client().chat.completions.create(chat, { signal: AbortSignal.timeout(150) })
    expect(await caught(stalled)).toBeInstanceOf(Error)
    expect(await mock.requests[0].settled).toBe('aborted')
    expect(await caught(client().chat.completions.create(chat))).toBeInstanceOf(Error)
    expect(await mock.requests[1].settled).toBe('dropped')
  })

  it('resets the connection before any response', async () => {
    mock.enqueue({ destroyConnection: true })
    const error = await caught(client().chat.completions.create(chat))
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError)
    expect(await mock.requests[0].settled).toBe('dropped')
  })

  it('answers 200 with a body that is not JSON, streaming or not', async () => {
    mock.enqueue({ garbage: true }, { garbage: true })
    const response = await fetch(`${mock.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MOCK_OPENAI_API_KEY}` },
      body: JSON.stringify(chat),
    })
    expect(response.status).toBe(200)
    await expect(response.json()).rejects.toThrow()
    const quiet = new OpenAI({
      apiKey: MOCK_OPENAI_API_KEY,
      baseURL: mock.baseUrl,
      maxRetries: 0,
      logLevel: 'off',
    })
    const stream = await quiet.chat.completions.create({ ...chat, stream: true })
    await expect(
      (async () => {
        for await (const _chunk of stream) {
          // drain
        }
      })()
    ).rejects.toThrow()
  })

  it('ends a stream with an in-band error event that the SDK raises without a status', async () => {
    mock.enqueue({ inBandError: true, afterChunks: 2, error: { message: 'upstream melted' } })
    const stream = await client().chat.completions.create({ ...chat, stream: true })
    const received: OpenAI.ChatCompletionChunk[] = []
    const error = (await caught(
      (async () => {
        for await (const chunk of stream) received.push(chunk)
      })()
    )) as InstanceType<typeof OpenAI.APIError>
    expect(received).toHaveLength(2)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect(error.status).toBeUndefined()
    expect(error.message).toContain('upstream melted')
  })

  it('leaves GET /v1/models alone unless a fault names its path', async () => {
    mock.enqueue({ status: 503 })
    await client().models.list()
    mock.enqueue({ status: 500, path: '/v1/models' })
    expect(
      (await caught(client().models.list())) as InstanceType<typeof OpenAI.APIError>
    ).toMatchObject({ status: 500 })
    expect(
      (await caught(client().chat.completions.create(chat))) as InstanceType<typeof OpenAI.APIError>
    ).toMatchObject({ status: 503 })
  })

  it('reset() forgets queued faults and recorded requests', async () => {
    mock.enqueue({ status: 500 })
    await client().models.list()
    mock.reset()
    expect(mock.requests).toEqual([])
    await client().chat.completions.create(chat)
    expect(mock.requests).toHaveLength(1)
  })
})

describe('fault injection on the mock Anthropic upstream', () => {
  let mock: MockUpstream
  const client = (maxRetries = 0) =>
    new Anthropic({ apiKey: MOCK_ANTHROPIC_API_KEY, baseURL: mock.baseUrl, maxRetries })
  const message = {
    model: 'claude-haiku-4-5',
    max_tokens: 64,
    messages: [{ role: 'user' as const, content: 'hello world' }],
  }
  beforeAll(async () => {
    mock = await startMockAnthropicUpstream()
  })
  afterAll(() => mock.close())
  beforeEach(() => mock.reset())

  it('answers a 529 overloaded_error in Anthropic shape, which the SDK retries', async () => {
    mock.enqueue({ status: 529 })
    const error = (await caught(client().messages.create(message))) as InstanceType<
      typeof Anthropic.APIError
    >
    expect(error.status).toBe(529)
    expect(error.error).toMatchObject({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    })
    mock.enqueue({ status: 529, headers: { 'retry-after-ms': '10' } })
    const answer = await client(1).messages.create(message)
    expect(answer.content).toEqual([{ type: 'text', text: 'echo: hello world' }])
  })

  it('answers a 429 rate_limit_error with retry-after', async () => {
    mock.enqueue({ status: 429, headers: { 'retry-after': '7' } })
    const error = (await caught(client().messages.create(message))) as InstanceType<
      typeof Anthropic.APIError
    >
    expect(error).toBeInstanceOf(Anthropic.RateLimitError)
    expect(error.headers?.get('retry-after')).toBe('7')
    expect(error.requestID).toMatch(/^req_/)
  })

  it('ends a stream with event: error after some events, which the SDK raises', async () => {
    mock.enqueue({ inBandError: true, afterChunks: 3 })
    const stream = client().messages.stream(message)
    const error = (await caught(stream.finalMessage())) as InstanceType<typeof Anthropic.APIError>
    expect(error).toBeInstanceOf(Anthropic.APIError)
    expect(error.status).toBeUndefined()
    expect(error.message).toContain('overloaded_error')
  })

  it('records the abort when the client gives up on a stalled stream', async () => {
    mock.enqueue({ stallAfterChunks: 1 })
    const stream = client().messages.stream(message)
    const done = caught(stream.done())
    await new Promise<void>((resolve) => stream.on('streamEvent', () => resolve()))
    stream.abort()
    expect(await done).toBeInstanceOf(Anthropic.APIUserAbortError)
    expect(await mock.requests[0].settled).toBe('aborted')
  })

  it('requires anthropic-version like the real API, and accepts x-api-key as well as a Bearer key', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${mock.baseUrl}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(message),
      })
    const missing = await post({ 'x-api-key': MOCK_ANTHROPIC_API_KEY })
    expect(missing.status).toBe(400)
    expect((await missing.json()).error).toEqual({
      type: 'invalid_request_error',
      message: 'anthropic-version: header is required',
    })
    const ok = await post({
      'x-api-key': MOCK_ANTHROPIC_API_KEY,
      'anthropic-version': '2023-06-01',
    })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('request-id')).toMatch(/^req_/)
  })
})

describe('mock upstream options for load tests', () => {
  it('keeps no requests when record is off, and spaces streamed events by chunkDelayMs', async () => {
    const mock = await startMockOpenAIUpstream({ record: false, chunkDelayMs: 40, streamChunks: 3 })
    try {
      const client = new OpenAI({
        apiKey: MOCK_OPENAI_API_KEY,
        baseURL: mock.baseUrl,
        maxRetries: 0,
      })
      const started = Date.now()
      const stream = await client.chat.completions.create({ ...chat, stream: true })
      const arrivals: number[] = []
      for await (const _chunk of stream) arrivals.push(Date.now() - started)
      expect(arrivals).toHaveLength(5)
      expect(arrivals.at(-1)! - arrivals[0]).toBeGreaterThanOrEqual(4 * 40 - 10)
      expect(mock.requests).toEqual([])
    } finally {
      await mock.close()
    }
  })
})
