/**
 * OpenAI SDK → gateway `POST /v1/responses` → Anthropic upstream: the Responses request is converted through the
 * canonical types and the answer (a `Response` object, or the Responses event sequence) is built by the gateway.
 * Every answer and every event is checked against OpenAI's OpenAPI document, and read by the official SDK.
 */
import type OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { E2E_MASTER_KEY, startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const model = 'anthropic/claude-haiku-4-5-20251001'
const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
}

type Event = { type: string; sequence_number: number } & Record<string, unknown>

describe('OpenAI Responses client → gateway → Anthropic upstream', () => {
  let gateway: E2EGateway
  let client: OpenAI
  beforeAll(async () => {
    preloadOpenAIValidator()
    gateway = await startE2EGateway({ anthropic: { streamChunks: 3 } })
    client = gateway.openAIClient()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const upstreamBodies = () =>
    gateway.anthropic.requests
      .filter((request) => request.path === '/v1/messages')
      .map((request) => request.body as Record<string, unknown>)

  it('answers a plain request with a Response the SDK reads, converted both ways', async () => {
    const { data: response, response: raw } = await client.responses
      .create({ model, instructions: 'Be brief.', input: 'hello claude', max_output_tokens: 200 })
      .withResponse()
    expectValidOpenAI('Response', response)
    expect(response).toMatchObject({
      object: 'response',
      status: 'completed',
      error: null,
      incomplete_details: null,
      instructions: 'Be brief.',
      max_output_tokens: 200,
    })
    expect(response.id).toMatch(/^resp_/)
    expect(response.output_text).toBe('echo: hello claude')
    expect(response.usage?.input_tokens).toBeGreaterThan(0)
    expect(response.usage?.output_tokens).toBeGreaterThan(0)
    expect(response.usage?.total_tokens).toBe(
      (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0)
    )
    expect(raw.headers.get('x-gatehouse-provider')).toBe('anthropic')
    const [upstream] = upstreamBodies()
    expect(upstream).toMatchObject({
      system: 'Be brief.',
      max_tokens: 200,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello claude' }] }],
    })
  })

  it('streams the exact event sequence, numbered, each event valid, ending in response.completed', async () => {
    const stream = client.responses.stream({ model, input: 'hello stream' })
    const events: Event[] = []
    for await (const event of stream) events.push(event as unknown as Event)
    const final = await stream.finalResponse()
    for (const event of events) expectValidOpenAI('ResponseStreamEvent', event)
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index))
    const types = events.map((event) => event.type)
    expect(types.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ])
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(types.filter((type) => type === 'response.output_text.delta').length).toBeGreaterThan(1)
    expect(final.output_text).toBe('echo: hello stream')
    expect(final.status).toBe('completed')
    expect(final.usage?.output_tokens).toBeGreaterThan(0)
  })

  it('runs a function-call roundtrip: the call, then its output answered', async () => {
    const first = await client.responses.create({
      model,
      input: 'use the tool get_weather',
      tools: [weatherTool],
    })
    expectValidOpenAI('Response', first)
    const call = first.output.find((item) => item.type === 'function_call')
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', status: 'completed' })
    if (call?.type !== 'function_call') throw new Error('expected a function call')
    expect(JSON.parse(call.arguments)).toHaveProperty('city')

    const second = await client.responses.create({
      model,
      tools: [weatherTool],
      input: [
        { role: 'user', content: 'use the tool get_weather' },
        ...first.output.filter((item) => item.type === 'function_call'),
        { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21 °C' },
      ],
    })
    expectValidOpenAI('Response', second)
    expect(second.output_text).toBe('tool result received: sunny, 21 °C')
    const [, upstream] = upstreamBodies()
    expect(upstream.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'use the tool get_weather' }] },
      {
        role: 'assistant',
        content: [
          {
            type: 'tool_use',
            id: call.call_id,
            name: 'get_weather',
            input: JSON.parse(call.arguments),
          },
        ],
      },
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: call.call_id,
            content: 'sunny, 21 °C',
          },
        ],
      },
    ])
  })

  it('takes a Codex-shaped call: namespaced tools flattened and named back, built-in tools left out and named, streamed', async () => {
    const response = await fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${E2E_MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model,
        stream: true,
        store: false,
        include: ['reasoning.encrypted_content'],
        reasoning: { summary: 'auto' },
        prompt_cache_key: 'session-1',
        client_metadata: { originator: 'codex_cli_rs' },
        tool_choice: 'auto',
        parallel_tool_calls: false,
        instructions: 'You are a coding agent.',
        input: [
          {
            type: 'message',
            role: 'developer',
            content: [{ type: 'input_text', text: 'Sandbox: read-only.' }],
          },
          {
            type: 'message',
            role: 'user',
            content: [{ type: 'input_text', text: 'use the tool to list files' }],
          },
        ],
        tools: [
          {
            type: 'namespace',
            name: 'shell',
            description: 'Shell access',
            tools: [
              {
                type: 'function',
                name: 'exec',
                description: 'Run a command',
                parameters: {
                  type: 'object',
                  properties: { cmd: { type: 'string' } },
                  required: ['cmd'],
                },
              },
            ],
          },
          { type: 'web_search' },
        ],
      }),
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gatehouse-omitted-tools')).toBe('web_search')
    const text = await response.text()
    const events = text
      .split('\n\n')
      .filter((frame) => frame.trim() !== '')
      .map((frame) => {
        const [eventLine, dataLine] = frame.split('\n')
        const event = JSON.parse(dataLine.slice('data: '.length)) as Event
        expect(eventLine).toBe(`event: ${event.type}`)
        return event
      })
    for (const event of events) expectValidOpenAI('ResponseStreamEvent', event)
    const completed = events.at(-1) as Event & { response: { output: Record<string, unknown>[] } }
    expect(completed.type).toBe('response.completed')
    const call = completed.response.output.find((item) => item.type === 'function_call')
    expect(call).toMatchObject({ namespace: 'shell', name: 'exec' })
    const [upstream] = upstreamBodies()
    expect((upstream.tools as { name: string }[]).map((tool) => tool.name)).toEqual(['shell__exec'])
    expect(upstream.system).toEqual([
      { type: 'text', text: 'You are a coding agent.' },
      { type: 'text', text: 'Sandbox: read-only.' },
    ])
  })

  it('streams a redacted thinking block as a reasoning item the client sends back, and the upstream gets it whole', async () => {
    const sse = (type: string, data: Record<string, unknown>): string =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
    gateway.anthropic.enqueue({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: [
        sse('message_start', {
          message: {
            id: 'msg_redacted',
            type: 'message',
            role: 'assistant',
            model: 'claude-haiku-4-5-20251001',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: 20, output_tokens: 1 },
          },
        }),
        sse('content_block_start', {
          index: 0,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        }),
        sse('content_block_delta', {
          index: 0,
          delta: { type: 'thinking_delta', thinking: 'Plan.' },
        }),
        sse('content_block_delta', {
          index: 0,
          delta: { type: 'signature_delta', signature: 'sig-1' },
        }),
        sse('content_block_stop', { index: 0 }),
        sse('content_block_start', {
          index: 1,
          content_block: { type: 'redacted_thinking', data: 'EmwKAhgBEgy' },
        }),
        sse('content_block_stop', { index: 1 }),
        sse('content_block_start', {
          index: 2,
          content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
        }),
        sse('content_block_delta', {
          index: 2,
          delta: { type: 'input_json_delta', partial_json: '{"city":"Oslo"}' },
        }),
        sse('content_block_stop', { index: 2 }),
        sse('message_delta', {
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: { output_tokens: 30 },
        }),
        sse('message_stop', {}),
      ].join(''),
    })
    const stream = await client.responses.create({
      model,
      stream: true,
      store: false,
      include: ['reasoning.encrypted_content'],
      input: 'use the tool get_weather',
      tools: [weatherTool],
    })
    let completed: OpenAI.Responses.Response | undefined
    for await (const event of stream) {
      expectValidOpenAI('ResponseStreamEvent', event)
      if (event.type === 'response.completed') completed = event.response
    }
    expect(completed!.output.map((item) => item.type)).toEqual([
      'reasoning',
      'reasoning',
      'function_call',
    ])
    const call = completed!.output[2]
    if (call.type !== 'function_call') throw new Error('expected a function call')
    await client.responses.create({
      model,
      store: false,
      tools: [weatherTool],
      input: [
        { role: 'user', content: 'use the tool get_weather' },
        ...(completed!.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'function_call_output', call_id: call.call_id, output: 'sunny' },
      ],
    })
    const [, upstream] = upstreamBodies()
    expect((upstream.messages as { content: unknown }[])[1].content).toEqual([
      { type: 'thinking', thinking: 'Plan.', signature: 'sig-1' },
      { type: 'redacted_thinking', data: 'EmwKAhgBEgy' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
    ])
  })

  it('stores a converted response: chained by previous_response_id, retrieved, its input listed, then deleted', async () => {
    const first = await client.responses.create({ model, input: 'remember the word kiwi' })
    const second = await client.responses.create({
      model,
      input: 'what was the word?',
      previous_response_id: first.id,
    })
    expectValidOpenAI('Response', second)
    expect(second.previous_response_id).toBe(first.id)
    // The upstream got the whole conversation: the first turn, its answer, the new turn.
    const [, upstream] = upstreamBodies()
    expect(upstream.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'remember the word kiwi' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'echo: remember the word kiwi' }] },
      { role: 'user', content: [{ type: 'text', text: 'what was the word?' }] },
    ])
    // Stored before the end of the answer reached the client: there at once.
    const retrieved = await client.responses.retrieve(second.id)
    expect(retrieved).toEqual(second)
    const items = await client.responses.inputItems.list(second.id, { order: 'asc' })
    expect(items.data).toHaveLength(1)
    expect(items.data[0]).toMatchObject({
      type: 'message',
      role: 'user',
      content: [{ type: 'input_text', text: 'what was the word?' }],
    })
    await client.responses.delete(second.id)
    const gone = await client.responses.retrieve(second.id).then(
      () => undefined,
      (caught: unknown) => caught as InstanceType<typeof OpenAI.APIError>
    )
    expect(gone?.status).toBe(404)
  })

  it('lists stored input items as the API does: content as parts, a status on each', async () => {
    const created = await client.responses.create({
      model,
      input: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: [{ type: 'input_text', text: 'c' }] },
      ],
    })
    const items = await client.responses.inputItems.list(created.id, { order: 'asc' })
    expectValidOpenAI('ResponseItemList', {
      object: 'list',
      data: items.data,
      first_id: items.data[0]?.id,
      last_id: items.data.at(-1)?.id,
      has_more: false,
    })
    expect(
      items.data.map((item) =>
        item.type === 'message'
          ? {
              role: item.role,
              status: item.status,
              parts: item.content.map((part) => [part.type, 'text' in part ? part.text : null]),
            }
          : item.type
      )
    ).toEqual([
      { role: 'user', status: 'completed', parts: [['input_text', 'a']] },
      { role: 'assistant', status: 'completed', parts: [['output_text', 'b']] },
      { role: 'user', status: 'completed', parts: [['input_text', 'c']] },
    ])
  })

  it('keeps nothing with store: false', async () => {
    const response = await client.responses.create({ model, input: 'forget me', store: false })
    await new Promise((resolve) => setTimeout(resolve, 100))
    const missing = await client.responses.retrieve(response.id).then(
      () => undefined,
      (caught: unknown) => caught as InstanceType<typeof OpenAI.APIError>
    )
    expect(missing?.status).toBe(404)
  })

  it('refuses what needs a stored response with a 400 in the OpenAI shape, naming the field', async () => {
    const error = await client.responses
      .create({ model, input: 'again', previous_response_id: 'resp_123' })
      .then(
        () => undefined,
        (caught: unknown) => caught as InstanceType<typeof OpenAI.APIError>
      )
    expect(error?.status).toBe(400)
    expect(error?.error).toMatchObject({
      type: 'invalid_request_error',
      param: 'previous_response_id',
    })
    expect(upstreamBodies()).toHaveLength(0)
  })
})
