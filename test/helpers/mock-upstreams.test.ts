import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MOCK_ANTHROPIC_API_KEY, startMockAnthropicUpstream } from './mock-anthropic-upstream.ts'
import {
  MOCK_OPENAI_API_KEY,
  mockEmbedding,
  startMockOpenAIUpstream,
} from './mock-openai-upstream.ts'
import type { MockUpstream } from './mock-upstream-server.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from './openapi-validator.ts'

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer' },
      },
      required: ['city', 'unit'],
    },
  },
}
const timeTool = {
  type: 'function' as const,
  function: { name: 'get_time', parameters: { type: 'object', properties: {} } },
}

describe('mock OpenAI upstream, driven by the official openai SDK', () => {
  let mock: MockUpstream
  let client: OpenAI
  beforeAll(async () => {
    preloadOpenAIValidator()
    mock = await startMockOpenAIUpstream({ streamChunks: 5 })
    client = new OpenAI({ apiKey: MOCK_OPENAI_API_KEY, baseURL: mock.baseUrl, maxRetries: 0 })
  })
  afterAll(() => mock.close())
  beforeEach(() => mock.reset())

  it('answers a chat completion that echoes the last user message and validates against the OpenAPI spec', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hello there' },
      ],
    })
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    expect(completion.choices[0].message).toEqual({
      role: 'assistant',
      content: 'echo: hello there',
      refusal: null,
      annotations: [],
    })
    expect(completion.choices[0].finish_reason).toBe('stop')
    expect(completion.model).toBe('gpt-4o-mini')
    const usage = completion.usage!
    expect(usage.prompt_tokens).toBeGreaterThan(5)
    expect(usage.completion_tokens).toBe(Math.ceil('echo: hello there'.length / 4))
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens)
    expect(mock.requests).toHaveLength(1)
    expect(mock.requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      aborted: false,
    })
    expect(mock.requests[0].headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
    expect((mock.requests[0].body as { messages: unknown[] }).messages).toHaveLength(2)
    expect(await mock.requests[0].settled).toBe('completed')
  })

  it('streams the same answer with the real chunk grammar: role first, finish_reason null until the end, usage chunk last', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream this please' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1)
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '', refusal: null })
    const content = chunks.slice(1, -2)
    expect(content).toHaveLength(5)
    expect(content.map((chunk) => chunk.choices[0].delta.content).join('')).toBe(
      'echo: stream this please'
    )
    expect(
      chunks
        .slice(0, -2)
        .every((chunk) => chunk.choices[0].finish_reason === null && chunk.usage === null)
    ).toBe(true)
    expect(chunks.at(-2)?.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' })
    const last = chunks.at(-1)!
    expect(last.choices).toEqual([])
    expect(last.usage?.total_tokens).toBe(last.usage!.prompt_tokens + last.usage!.completion_tokens)
  })

  it('omits the usage key entirely when include_usage is not asked, and ends with [DONE]', async () => {
    const response = await fetch(`${mock.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${MOCK_OPENAI_API_KEY}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      }),
    })
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const text = await response.text()
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(text).not.toContain('"usage"')
    expect(text).not.toContain('event:')
  })

  it('answers "use tool" with a tool call whose JSON arguments follow the tool schema', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Please use tool to get the weather' }],
      tools: [weatherTool, timeTool],
    })
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    const choice = completion.choices[0]
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message.content).toBeNull()
    expect(choice.message.tool_calls).toHaveLength(1)
    const call = choice.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall
    expect(call.function.name).toBe('get_weather')
    expect(JSON.parse(call.function.arguments)).toEqual({
      city: 'sample city',
      unit: 'celsius',
      days: 1,
    })
  })

  it('streams two parallel tool calls as fragments that the SDK stream helper assembles', async () => {
    const stream = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'use tools in parallel: weather and get_time' }],
      tools: [weatherTool, timeTool],
    })
    const raw: OpenAI.ChatCompletionChunk[] = []
    stream.on('chunk', (chunk) => raw.push(chunk))
    const final = await stream.finalChatCompletion()
    for (const chunk of raw) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    const fragments = raw.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
    expect(
      fragments.filter((fragment) => fragment.id !== undefined).map((fragment) => fragment.index)
    ).toEqual([0, 1])
    expect(fragments.filter((fragment) => fragment.index === 0).length).toBeGreaterThan(2)
    const calls = final.choices[0].message
      .tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]
    expect(calls.map((call) => call.function.name)).toEqual(['get_time', 'get_weather'])
    expect(calls.map((call) => JSON.parse(call.function.arguments))).toEqual([
      {},
      { city: 'sample city', unit: 'celsius', days: 1 },
    ])
    expect(final.choices[0].finish_reason).toBe('tool_calls')
  })

  it('answers after a tool result with text that quotes it', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'user', content: 'use tool' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '12:00' },
      ],
      tools: [timeTool],
    })
    expect(completion.choices[0].message.content).toBe('tool result received: 12:00')
  })

  it('stops at max_completion_tokens with finish_reason length', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'a rather long question that will not fit' }],
      max_completion_tokens: 2,
    })
    expect(completion.choices[0]).toMatchObject({
      finish_reason: 'length',
      message: { content: 'echo: a ' },
    })
    expect(completion.usage?.completion_tokens).toBe(2)
  })

  it('returns deterministic float embeddings in input order, and base64 that the SDK decodes to the same values', async () => {
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
      encoding_format: 'float',
    })
    expectValidOpenAI('CreateEmbeddingResponse', floats)
    expect(floats.data.map((item) => item.index)).toEqual([0, 1])
    expect(floats.data[0].embedding).toEqual(mockEmbedding('alpha', 8))
    expect(floats.data[1].embedding).toEqual(mockEmbedding('beta', 8))
    expect(floats.data[0].embedding).not.toEqual(floats.data[1].embedding)

    const decoded = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'alpha',
      dimensions: 4,
    })
    expect((mock.requests.at(-1)?.body as { encoding_format?: string }).encoding_format).toBe(
      'base64'
    )
    expect(decoded.data[0].embedding).toEqual(mockEmbedding('alpha', 4))
    expect(decoded.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 })
  })

  it('lists and retrieves models (ids with a slash arrive percent-encoded) and answers 404 model_not_found', async () => {
    const ids = []
    for await (const model of client.models.list()) ids.push(model.id)
    expect(ids).toEqual(['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'])
    expect(await client.models.retrieve('gpt-4o')).toEqual({
      id: 'gpt-4o',
      object: 'model',
      created: 1715367049,
      owned_by: 'system',
    })
    const missing = await client.models.retrieve('openai/gpt-9').catch((error: unknown) => error)
    expect(mock.requests.at(-1)?.path).toBe('/v1/models/openai%2Fgpt-9')
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError)
    expect((missing as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found')
  })

  it('rejects a wrong key with a 401 in OpenAI shape', async () => {
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: mock.baseUrl, maxRetries: 0 })
    const error = await wrong.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
    const apiError = error as InstanceType<typeof OpenAI.APIError>
    expect(apiError.status).toBe(401)
    expect(apiError.code).toBe('invalid_api_key')
    expectValidOpenAI('ErrorResponse', { error: apiError.error })
  })
})

describe('mock OpenAI-compatible upstream that ignores base64', () => {
  it('answers float arrays to a base64 request, which the SDK then silently mis-decodes', async () => {
    const mock = await startMockOpenAIUpstream({ ignoreBase64: true })
    try {
      const response = await fetch(`${mock.baseUrl}/embeddings`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${MOCK_OPENAI_API_KEY}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          model: 'text-embedding-3-small',
          input: 'alpha',
          encoding_format: 'base64',
        }),
      })
      expect((await response.json()).data[0].embedding).toEqual(mockEmbedding('alpha', 8))
      const client = new OpenAI({
        apiKey: MOCK_OPENAI_API_KEY,
        baseURL: mock.baseUrl,
        maxRetries: 0,
      })
      const decoded = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'alpha',
      })
      expect(decoded.data[0].embedding).not.toEqual(mockEmbedding('alpha', 8))
    } finally {
      await mock.close()
    }
  })
})

describe('mock Anthropic upstream, driven by the official @anthropic-ai/sdk', () => {
  let mock: MockUpstream
  let client: Anthropic
  const weather = {
    name: 'get_weather',
    input_schema: {
      type: 'object' as const,
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
  }
  const time = { name: 'get_time', input_schema: { type: 'object' as const, properties: {} } }
  beforeAll(async () => {
    mock = await startMockAnthropicUpstream({
      streamChunks: 3,
      cacheReadTokens: 7,
      cacheWriteTokens: 2,
    })
    client = new Anthropic({ apiKey: MOCK_ANTHROPIC_API_KEY, baseURL: mock.baseUrl, maxRetries: 0 })
  })
  afterAll(() => mock.close())
  beforeEach(() => mock.reset())

  it('answers a message with a text block without citations, cache usage fields and a request id', async () => {
    const message = await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hello' }],
    })
    expect(message.content).toEqual([{ type: 'text', text: 'echo: hello' }])
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-haiku-4-5',
      stop_reason: 'end_turn',
      stop_sequence: null,
    })
    expect(message.usage).toMatchObject({
      cache_read_input_tokens: 7,
      cache_creation_input_tokens: 2,
      output_tokens: 3,
    })
    expect(message.usage.input_tokens).toBeGreaterThan(0)
    expect(message._request_id).toMatch(/^req_/)
    expect(mock.requests[0].headers.authorization).toBe(`Bearer ${MOCK_ANTHROPIC_API_KEY}`)
    expect(mock.requests[0].headers['anthropic-version']).toBeDefined()
  })

  it('streams with event: lines in the documented order, a ping, and the SDK assembles the same message', async () => {
    const response = await fetch(`${mock.baseUrl}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': MOCK_ANTHROPIC_API_KEY,
        'anthropic-version': '2023-06-01',
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        stream: true,
        messages: [{ role: 'user', content: 'hello' }],
      }),
    })
    const names = [...(await response.text()).matchAll(/^event: (\w+)\ndata: /gm)].map(
      (match) => match[1]
    )
    expect(names).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    const final = await client.messages
      .stream({
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'hello' }],
      })
      .finalMessage()
    expect(final.content).toEqual([{ type: 'text', text: 'echo: hello' }])
    expect(final.stop_reason).toBe('end_turn')
    expect(final.usage.output_tokens).toBe(3)
  })

  it('streams two tool_use blocks with input_json_delta after a text block, and an empty input for a no-argument tool', async () => {
    const final = await client.messages
      .stream({
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        tools: [weather, time],
        messages: [{ role: 'user', content: 'use tools: both please' }],
      })
      .finalMessage()
    expect(final.stop_reason).toBe('tool_use')
    expect(final.content[0]).toEqual({ type: 'text', text: "I'll call get_weather and get_time." })
    expect(final.content.slice(1)).toEqual([
      {
        type: 'tool_use',
        id: expect.stringMatching(/^toolu_/),
        name: 'get_weather',
        input: { city: 'sample city' },
      },
      { type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'get_time', input: {} },
    ])
  })

  it('makes one call when parallel use is disabled, and answers tool results with text', async () => {
    const single = await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      tools: [weather, time],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      messages: [{ role: 'user', content: 'use tools: both please' }],
    })
    expect(single.content.filter((block) => block.type === 'tool_use')).toHaveLength(1)
    const after = await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      tools: [weather],
      messages: [
        { role: 'user', content: 'use tool' },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }],
        },
      ],
    })
    expect(after.content).toEqual([{ type: 'text', text: 'tool result received: sunny' }])
  })

  it('rejects a request without max_tokens as Anthropic does, with a request_id in the error body', async () => {
    const error = await client.messages
      .create({
        model: 'claude-haiku-4-5',
        messages: [{ role: 'user', content: 'x' }],
      } as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(Anthropic.BadRequestError)
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'max_tokens: Field required' },
      request_id: expect.stringMatching(/^req_/),
    })
  })

  it('counts tokens, lists models in Anthropic shape, and rejects a wrong key with authentication_error', async () => {
    const counted = await client.messages.countTokens({
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user', content: 'hello' }],
    })
    expect(counted.input_tokens).toBeGreaterThan(0)
    const page = await client.models.list()
    expect(page.data.map((model) => model.id)).toEqual([
      'claude-haiku-4-5-20251001',
      'claude-opus-4-7',
      'claude-sonnet-4-6',
    ])
    expect(page).toMatchObject({
      has_more: false,
      first_id: 'claude-haiku-4-5-20251001',
      last_id: 'claude-sonnet-4-6',
    })
    expect(page.data[0]).toMatchObject({
      type: 'model',
      display_name: 'Claude Haiku 4.5',
      created_at: expect.any(String),
    })
    expect(await client.models.retrieve('claude-opus-4-7')).toMatchObject({
      id: 'claude-opus-4-7',
      display_name: 'Claude Opus 4.7',
    })
    const wrong = new Anthropic({ apiKey: 'nope', baseURL: mock.baseUrl, maxRetries: 0 })
    const error = await wrong.models.list().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError)
  })
})
