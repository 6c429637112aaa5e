/**
 * Chat Completions and Messages clients → gateway → a model OpenAI serves only through its Responses API (`o3-pro`,
 * on the built-in list): the gateway converts each request to `POST /v1/responses` and each answer back, streamed and
 * not, tool calls and usage included, and never forwards it to `/v1/chat/completions`.
 */
import type OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MOCK_REASONING_TOKENS } from '../helpers/mock-responses-api.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const model = 'openai/o3-pro'
const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}

type UpstreamResponse = {
  usage: { input_tokens: number; output_tokens: number }
  output: { type: string; arguments?: string }[]
}

describe('Chat Completions and Messages clients → a Responses-only OpenAI model', () => {
  let gateway: E2EGateway
  let client: OpenAI
  beforeAll(async () => {
    preloadOpenAIValidator()
    gateway = await startE2EGateway({ openai: { streamChunks: 3, cacheReadTokens: 5 } })
    client = gateway.openAIClient()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const upstreamCalls = () => gateway.openai.requests.filter((request) => request.method === 'POST')

  /** What the upstream answered to the one call the gateway made (replayed against the mock's twin). */
  const upstreamAnswer = async (): Promise<UpstreamResponse> => {
    const [upstream] = upstreamCalls()
    return (await gateway.upstreamAnswer('openai', upstream)) as unknown as UpstreamResponse
  }

  it('converts a chat completion to a Responses request and the Response back, with its usage', async () => {
    const completion = await client.chat.completions.create({
      model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello pro' },
      ],
      max_completion_tokens: 500,
      user: 'user-42',
    })
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    expect(completion.choices[0]).toMatchObject({
      message: { role: 'assistant', content: 'echo: hello pro' },
      finish_reason: 'stop',
    })
    const calls = upstreamCalls()
    expect(calls.map((request) => request.path)).toEqual(['/v1/responses'])
    expect(calls[0].body).toEqual({
      model: 'o3-pro',
      instructions: 'Be brief.',
      input: [{ type: 'message', role: 'user', content: 'hello pro' }],
      max_output_tokens: 500,
      safety_identifier: 'user-42',
      store: false,
    })
    const answer = await upstreamAnswer()
    expect(completion.usage).toMatchObject({
      prompt_tokens: answer.usage.input_tokens,
      completion_tokens: answer.usage.output_tokens,
      prompt_tokens_details: { cached_tokens: 5 },
      completion_tokens_details: { reasoning_tokens: MOCK_REASONING_TOKENS },
    })
  })

  it('streams a tool call (id and name first, the arguments after) with finish_reason tool_calls and usage', async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'use tool for Paris' }],
      tools: [weatherTool],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    const fragments = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
    expect(fragments[0]).toMatchObject({
      index: 0,
      id: expect.stringMatching(/^call_/),
      type: 'function',
      function: { name: 'get_weather' },
    })
    const args = fragments.map((fragment) => fragment.function?.arguments ?? '').join('')
    const answer = await upstreamAnswer()
    const upstreamCall = answer.output.find((item) => item.type === 'function_call')
    expect(args).toBe(upstreamCall?.arguments)
    expect(JSON.parse(args)).toHaveProperty('city')
    expect(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe(
      'tool_calls'
    )
    expect(chunks.at(-1)?.usage).toMatchObject({
      prompt_tokens: answer.usage.input_tokens,
      completion_tokens: answer.usage.output_tokens,
    })
    const [upstream] = upstreamCalls()
    expect(upstream.path).toBe('/v1/responses')
    expect(upstream.body).toMatchObject({
      stream: true,
      store: false,
      tools: [
        {
          type: 'function',
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: weatherTool.function.parameters,
          strict: false,
        },
      ],
    })
  })

  it('sends the tool results of a second turn as function_call_output items', async () => {
    const completion = await client.chat.completions.create({
      model,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'use tool for Paris' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_abc',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_abc', content: 'sunny, 24 C' },
      ],
    })
    expect(completion.choices[0].message.content).toContain('sunny, 24 C')
    expect(completion.choices[0].finish_reason).toBe('stop')
    expect(upstreamCalls()[0].body).toMatchObject({
      input: [
        { type: 'message', role: 'user', content: 'use tool for Paris' },
        {
          type: 'function_call',
          call_id: 'call_abc',
          name: 'get_weather',
          arguments: '{"city":"Paris"}',
        },
        { type: 'function_call_output', call_id: 'call_abc', output: 'sunny, 24 C' },
      ],
    })
  })

  it('answers an Anthropic Messages client, streamed and not, with the Responses usage', async () => {
    const anthropic = gateway.anthropicClient()
    const message = await anthropic.messages.create({
      model,
      max_tokens: 300,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'hello from claude code' }],
    })
    expect(message.content).toEqual([{ type: 'text', text: 'echo: hello from claude code' }])
    expect(message.stop_reason).toBe('end_turn')
    const answer = await upstreamAnswer()
    expect(message.usage).toMatchObject({
      input_tokens: answer.usage.input_tokens - 5,
      cache_read_input_tokens: 5,
      output_tokens: answer.usage.output_tokens,
    })
    expect(upstreamCalls()[0]).toMatchObject({
      path: '/v1/responses',
      body: { model: 'o3-pro', instructions: 'Be brief.', max_output_tokens: 300, store: false },
    })

    gateway.reset()
    const stream = anthropic.messages.stream({
      model,
      max_tokens: 300,
      tools: [
        {
          name: 'get_weather',
          input_schema: { type: 'object', properties: { city: { type: 'string' } } },
        },
      ],
      messages: [{ role: 'user', content: 'use tool for Rome' }],
    })
    const final = await stream.finalMessage()
    expect(final.stop_reason).toBe('tool_use')
    const toolUse = final.content.find((block) => block.type === 'tool_use')
    const streamedAnswer = await upstreamAnswer()
    const upstreamCall = streamedAnswer.output.find((item) => item.type === 'function_call')
    expect(toolUse).toMatchObject({
      // The upstream's call_id (the twin's answer has an id of its own).
      id: expect.stringMatching(/^call_/),
      name: 'get_weather',
      input: JSON.parse(upstreamCall?.arguments ?? 'null') as unknown,
    })
    expect(final.usage.output_tokens).toBe(streamedAnswer.usage.output_tokens)
    expect(upstreamCalls()[0]).toMatchObject({ path: '/v1/responses', body: { stream: true } })
  })
})
