/**
 * OpenAI SDK → gateway → Anthropic upstream (cross dialect: the request and every answer are converted).
 * Every OpenAI-shaped answer is checked against OpenAI's OpenAPI document.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MOCK_ANTHROPIC_API_KEY } from '../helpers/mock-anthropic-upstream.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { E2E_MASTER_KEY, startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const model = 'anthropic/claude-haiku-4-5-20251001'
const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' } },
      required: ['city'],
    },
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
type AnthropicAnswer = { usage: Record<string, number>; content: { type: string; text?: string }[] }

describe('OpenAI client → gateway → Anthropic upstream', () => {
  let gateway: E2EGateway
  let client: OpenAI
  beforeAll(async () => {
    preloadOpenAIValidator()
    gateway = await startE2EGateway({
      anthropic: { streamChunks: 3, cacheReadTokens: 5, cacheWriteTokens: 2 },
    })
    client = gateway.openAIClient()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const upstreamMessages = () =>
    gateway.anthropic.requests.filter((request) => request.path === '/v1/messages')

  it('converts the request (system on top, max_tokens filled in and announced) and the answer', async () => {
    const response = await client.chat.completions
      .create({
        model,
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hello claude' },
        ],
      })
      .withResponse()
    const completion = response.data
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    expect(completion.object).toBe('chat.completion')
    expect(completion.choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'echo: hello claude',
          refusal: null,
          annotations: [],
        },
        logprobs: null,
        finish_reason: 'stop',
      },
    ])
    const [upstream] = upstreamMessages()
    expect(upstream.headers['x-api-key'] ?? upstream.headers.authorization).toContain(
      MOCK_ANTHROPIC_API_KEY
    )
    expect(JSON.stringify(upstream.headers)).not.toContain(E2E_MASTER_KEY)
    expect(upstream.body).toMatchObject({
      model: 'claude-haiku-4-5-20251001',
      messages: [{ role: 'user' }],
    })
    expect(JSON.stringify((upstream.body as { system: unknown }).system)).toContain('be brief')
    const maxTokens = (upstream.body as { max_tokens: number }).max_tokens
    expect(maxTokens).toBeGreaterThan(0)
    expect(response.response.headers.get('x-gatehouse-default-max-tokens')).toBe(String(maxTokens))
  })

  it("gives a converted answer the upstream's request id, streamed or not, as a forwarded one has", async () => {
    const plain = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse()
    const streamed = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true })
      .withResponse()
    for await (const chunk of streamed.data) void chunk
    const ids = [plain.response, streamed.response].map((response) =>
      response.headers.get('x-gatehouse-upstream-request-id')
    )
    expect(ids).toEqual([expect.stringMatching(/^req_mock/), expect.stringMatching(/^req_mock/)])
    expect(ids[0]).not.toBe(ids[1])
  })

  it("reports usage in OpenAI's convention: prompt tokens include Anthropic's cache reads and writes", async () => {
    const completion = await client.chat.completions.create({
      model,
      max_completion_tokens: 50,
      messages: [{ role: 'user', content: 'count me' }],
    })
    const answer = (await gateway.upstreamAnswer(
      'anthropic',
      upstreamMessages()[0]
    )) as unknown as AnthropicAnswer
    const { input_tokens, cache_read_input_tokens, cache_creation_input_tokens, output_tokens } =
      answer.usage
    expect(completion.usage).toMatchObject({
      prompt_tokens: input_tokens + cache_read_input_tokens + cache_creation_input_tokens,
      completion_tokens: output_tokens,
      total_tokens:
        input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens,
      prompt_tokens_details: { cached_tokens: 5 },
    })
    expect((upstreamMessages()[0].body as { max_tokens: number }).max_tokens).toBe(50)
  })

  it('streams converted chunks: role first, finish_reason null until the end, usage chunk only when asked', async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'stream from claude' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1)
    expect(chunks[0].choices[0].delta.role).toBe('assistant')
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(
      'echo: stream from claude'
    )
    const finishes = chunks.map((chunk) => chunk.choices[0]?.finish_reason)
    expect(finishes.slice(0, -2).every((reason) => reason === null)).toBe(true)
    expect(finishes.at(-2)).toBe('stop')
    const answer = (await gateway.upstreamAnswer(
      'anthropic',
      upstreamMessages()[0]
    )) as unknown as AnthropicAnswer
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { completion_tokens: answer.usage.output_tokens },
    })

    const plain = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'again' }],
      stream: true,
    })
    const plainChunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of plain) plainChunks.push(chunk)
    for (const chunk of plainChunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    expect(plainChunks.some((chunk) => 'usage' in chunk)).toBe(false)
  })

  it('converts tools and a tool call; arguments arrive as a JSON string', async () => {
    const completion = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'use tool for Paris' }],
      tools: [weatherTool],
    })
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    const upstream = upstreamMessages()[0].body as { tools: unknown[] }
    expect(upstream.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Weather for a city',
        input_schema: weatherTool.function.parameters,
      },
    ])
    const choice = completion.choices[0]
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message.content).toBe("I'll call get_weather.")
    const call = choice.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall
    expect(call).toMatchObject({
      id: expect.stringMatching(/^toolu_/),
      type: 'function',
      function: { name: 'get_weather' },
    })
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'sample city', days: 1 })
  })

  it('streams parallel tool calls with their own index counter, assembled by the SDK helper', async () => {
    const stream = client.chat.completions.stream({
      model,
      messages: [{ role: 'user', content: 'use tools for both please' }],
      tools: [weatherTool, timeTool],
    })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    stream.on('chunk', (chunk) => chunks.push(chunk))
    const final = await stream.finalChatCompletion()
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    const starts = chunks
      .flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
      .filter((fragment) => fragment.id !== undefined)
    expect(starts.map((fragment) => fragment.index)).toEqual([0, 1])
    const calls = final.choices[0].message
      .tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]
    expect(
      calls.map((entry) => [entry.function.name, JSON.parse(entry.function.arguments)])
    ).toEqual([
      ['get_weather', { city: 'sample city', days: 1 }],
      ['get_time', {}],
    ])
    expect(final.choices[0].finish_reason).toBe('tool_calls')
  })

  it('sends tool results back as tool_result blocks first in one user message', async () => {
    const completion = await client.chat.completions.create({
      model,
      tools: [weatherTool, timeTool],
      messages: [
        { role: 'user', content: 'use tools for both' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'toolu_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
            { id: 'toolu_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_a', content: 'snow' },
        { role: 'tool', tool_call_id: 'toolu_b', content: '09:00' },
      ],
    })
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    expect(completion.choices[0].message.content).toBe('tool result received: snow; 09:00')
    const messages = (
      upstreamMessages()[0].body as { messages: { role: string; content: { type: string }[] }[] }
    ).messages
    expect(messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user'])
    expect(messages[1].content).toEqual([
      { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'Oslo' } },
      { type: 'tool_use', id: 'toolu_b', name: 'get_time', input: {} },
    ])
    expect(messages[2].content.map((block) => block.type)).toEqual(['tool_result', 'tool_result'])
  })

  it('maps max_tokens truncation to finish_reason length', async () => {
    const completion = await client.chat.completions.create({
      model,
      max_completion_tokens: 2,
      messages: [{ role: 'user', content: 'a question far too long for two tokens' }],
    })
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    expect(completion.choices[0].finish_reason).toBe('length')
  })

  it('retries an Anthropic 529 overloaded answer and answers normally', async () => {
    gateway.anthropic.enqueue({ status: 529 })
    const completion = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'busy?' }],
    })
    expect(completion.choices[0].message.content).toBe('echo: busy?')
    expect(upstreamMessages()).toHaveLength(2)
  })

  it('turns an Anthropic invalid_request_error into an OpenAI-shaped 400', async () => {
    gateway.anthropic.enqueue({
      status: 400,
      body: {
        type: 'error',
        error: {
          type: 'invalid_request_error',
          message: 'prompt is too long: 210000 tokens > 200000 maximum',
        },
        request_id: 'req_x',
      },
    })
    const error = await caught(
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] })
    )
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect(error?.message).toContain('prompt is too long')
    expectValidOpenAI('ErrorResponse', { error: error?.error })
  })

  it('ends a converted stream with an error the SDK raises when Anthropic sends event: error', async () => {
    gateway.anthropic.enqueue({ inBandError: true, afterChunks: 4 })
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'overload me' }],
      stream: true,
    })
    const received: OpenAI.ChatCompletionChunk[] = []
    const error = await caught(
      (async () => {
        for await (const chunk of stream) received.push(chunk)
      })()
    )
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect(error?.status).toBeUndefined()
    expect(received.every((chunk) => chunk.choices[0]?.finish_reason == null)).toBe(true)
  })

  it("carries the client's disconnect to the upstream request on the conversion path", async () => {
    gateway.anthropic.enqueue({ stallAfterChunks: 3 })
    const controller = new AbortController()
    const stream = await client.chat.completions.create(
      { model, messages: [{ role: 'user', content: 'then hang up' }], stream: true },
      { signal: controller.signal }
    )
    const iterator = stream[Symbol.asyncIterator]()
    await iterator.next()
    const [upstream] = upstreamMessages()
    expect(upstream.aborted).toBe(false)
    controller.abort()
    await caught(iterator.next())
    expect(await upstream.settled).toBe('aborted')
  })
})
