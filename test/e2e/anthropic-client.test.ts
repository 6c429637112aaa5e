/**
 * Anthropic SDK → gateway → Anthropic upstream (same dialect, forwarded) and → OpenAI upstream (converted).
 */
import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MOCK_ANTHROPIC_API_KEY } from '../helpers/mock-anthropic-upstream.ts'
import { MOCK_OPENAI_API_KEY } from '../helpers/mock-openai-upstream.ts'
import { E2E_MASTER_KEY, startE2EGateway, withoutIdentity } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const claude = 'claude-haiku-4-5-20251001'
const gpt = 'openai/gpt-4o-mini'
const weather = {
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: {
    type: 'object' as const,
    properties: { city: { type: 'string' } },
    required: ['city'],
  },
}
const time = { name: 'get_time', input_schema: { type: 'object' as const, properties: {} } }
const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as InstanceType<typeof Anthropic.APIError>
  )

/** The SSE event names of a raw `/v1/messages` stream from the gateway, and the parsed data of each. */
const rawStream = async (gateway: E2EGateway, body: Record<string, unknown>) => {
  const response = await fetch(`${gateway.url}/v1/messages`, {
    method: 'POST',
    headers: {
      'x-api-key': E2E_MASTER_KEY,
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
    },
    body: JSON.stringify({ ...body, stream: true }),
  })
  const text = await response.text()
  const events = text.split('\n\n').filter((block) => block.trim() !== '')
  return events.map((block) => {
    const name = /^event: (.+)$/m.exec(block)?.[1]
    const data = /^data: (.+)$/m.exec(block)?.[1]
    return {
      name,
      data: data === undefined ? undefined : (JSON.parse(data) as Record<string, unknown>),
    }
  })
}

describe('Anthropic client → gateway', () => {
  let gateway: E2EGateway
  let client: Anthropic
  beforeAll(async () => {
    gateway = await startE2EGateway({
      anthropic: { streamChunks: 3, cacheReadTokens: 4 },
      openai: { streamChunks: 3 },
    })
    client = gateway.anthropicClient()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const anthropicMessages = () =>
    gateway.anthropic.requests.filter((request) => request.path === '/v1/messages')
  const openAIChats = () =>
    gateway.openai.requests.filter((request) => request.path === '/v1/chat/completions')

  describe('→ Anthropic upstream (passthrough)', () => {
    it('answers exactly what the upstream answered, with the provider key and anthropic-version upstream', async () => {
      const message = await client.messages.create({
        model: claude,
        max_tokens: 64,
        system: 'be brief',
        messages: [{ role: 'user', content: 'hello' }],
      })
      const [upstream] = anthropicMessages()
      expect(upstream.headers['x-api-key'] ?? upstream.headers.authorization).toContain(
        MOCK_ANTHROPIC_API_KEY
      )
      expect(upstream.headers['anthropic-version']).toBeDefined()
      expect(JSON.stringify(upstream.headers)).not.toContain(E2E_MASTER_KEY)
      expect(upstream.body).toMatchObject({ model: claude, max_tokens: 64, system: 'be brief' })
      const expected = await gateway.upstreamAnswer('anthropic', upstream)
      expect(withoutIdentity({ ...message } as unknown as Record<string, unknown>)).toEqual(
        withoutIdentity(expected)
      )
      expect(message.content).toEqual([{ type: 'text', text: 'echo: hello' }])
      expect(message.content[0]).not.toHaveProperty('citations')
      expect(message.usage.cache_read_input_tokens).toBe(4)
    })

    it('streams the upstream events through, ping included, and the SDK assembles the message', async () => {
      const events = await rawStream(gateway, {
        model: claude,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'hi there' }],
      })
      expect(
        events.every((event) => event.name !== undefined && event.name === event.data?.type)
      ).toBe(true)
      expect(events.map((event) => event.name)).toContain('ping')
      expect(events[0].name).toBe('message_start')
      expect(events.at(-1)?.name).toBe('message_stop')
      const final = await client.messages
        .stream({
          model: claude,
          max_tokens: 64,
          messages: [{ role: 'user', content: 'hi there' }],
        })
        .finalMessage()
      expect(final.content).toEqual([{ type: 'text', text: 'echo: hi there' }])
      expect(final.stop_reason).toBe('end_turn')
    })

    it('streams tool_use blocks whose input the SDK parses', async () => {
      const final = await client.messages
        .stream({
          model: claude,
          max_tokens: 64,
          tools: [weather, time],
          messages: [{ role: 'user', content: 'use tools, both' }],
        })
        .finalMessage()
      expect(final.stop_reason).toBe('tool_use')
      expect(
        final.content
          .filter((block) => block.type === 'tool_use')
          .map((block) => [block.name, block.input])
      ).toEqual([
        ['get_weather', { city: 'sample city' }],
        ['get_time', {}],
      ])
    })

    it('counts tokens exactly through the upstream', async () => {
      const counted = await client.messages.countTokens({
        model: claude,
        messages: [{ role: 'user', content: 'count these words' }],
      })
      const upstream = gateway.anthropic.requests.find(
        (request) => request.path === '/v1/messages/count_tokens'
      )!
      const expected = await gateway.upstreamAnswer('anthropic', upstream)
      expect(counted.input_tokens).toBe(expected.input_tokens)
    })

    it("lists models in Anthropic's shape for an Anthropic client", async () => {
      const page = await client.models.list()
      const ids = page.data.map((model) => model.id)
      expect(ids).toEqual(expect.arrayContaining(['anthropic/claude-opus-4-7', 'openai/gpt-4o']))
      for (const model of page.data) {
        expect(model).toMatchObject({
          type: 'model',
          id: expect.any(String),
          display_name: expect.any(String),
          created_at: expect.any(String),
        })
      }
      expect(page.has_more).toBe(false)
      expect(page.first_id).toBe(ids[0])
      expect(page.last_id).toBe(ids.at(-1))
      expect(ids[0]).toBe('smart')

      // The SDK's auto-pagination walks `after_id` pages of two and sees every model once, in order.
      const paged: string[] = []
      for await (const model of client.models.list({ limit: 2 })) paged.push(model.id)
      expect(paged).toEqual(ids)
      const second = await client.models.list({ limit: 2, after_id: ids[1] })
      expect(second.data.map((model) => model.id)).toEqual(ids.slice(2, 4))
      expect(second.has_more).toBe(ids.length > 4)
      const before = await client.models.list({ limit: 2, before_id: ids[3] })
      expect(before.data.map((model) => model.id)).toEqual(ids.slice(1, 3))
      expect(before.has_more).toBe(true)
      expect((await client.models.retrieve('smart')).display_name).toBe('smart')
    })

    it('passes an upstream 429 rate_limit_error through in Anthropic shape once retries are spent', async () => {
      gateway.anthropic.enqueue({ status: 429 }, { status: 429 }, { status: 429 }, { status: 429 })
      const error = await caught(
        client.messages.create({
          model: claude,
          max_tokens: 16,
          messages: [{ role: 'user', content: 'x' }],
        })
      )
      expect(error).toBeInstanceOf(Anthropic.RateLimitError)
      expect(error?.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } })
      expect(error?.headers?.get('x-should-retry')).toBe('false')
    })
  })

  describe('→ OpenAI upstream (converted)', () => {
    it('converts the request and the answer, with usage taken from the upstream', async () => {
      const message = await client.messages.create({
        model: gpt,
        max_tokens: 64,
        system: 'be brief',
        messages: [{ role: 'user', content: 'hello gpt' }],
      })
      const [upstream] = openAIChats()
      expect(upstream.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
      expect(upstream.body).toMatchObject({
        model: 'gpt-4o-mini',
        messages: [{ content: 'be brief' }, { role: 'user' }],
      })
      expect(message).toMatchObject({
        type: 'message',
        role: 'assistant',
        stop_reason: 'end_turn',
        stop_sequence: null,
      })
      expect(message.content).toEqual([{ type: 'text', text: 'echo: hello gpt' }])
      const expected = (await gateway.upstreamAnswer('openai', upstream)) as {
        usage: { prompt_tokens: number; completion_tokens: number }
      }
      expect(message.usage).toMatchObject({
        input_tokens: expected.usage.prompt_tokens,
        output_tokens: expected.usage.completion_tokens,
      })
      expect(message).not.toHaveProperty('error')
    })

    it('streams Anthropic events with event: lines in order, asking the upstream for usage', async () => {
      const events = await rawStream(gateway, {
        model: gpt,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'stream gpt' }],
      })
      expect((openAIChats()[0].body as { stream_options?: unknown }).stream_options).toEqual({
        include_usage: true,
      })
      expect(
        events.every((event) => event.name !== undefined && event.name === event.data?.type)
      ).toBe(true)
      const names = events.map((event) => event.name).filter((name) => name !== 'ping')
      expect(names[0]).toBe('message_start')
      expect(names.slice(1, 2)).toEqual(['content_block_start'])
      expect(names.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop'])
      const expected = (await gateway.upstreamAnswer('openai', openAIChats()[0])) as {
        usage: { completion_tokens: number }
      }
      const delta = events.find((event) => event.name === 'message_delta')?.data as {
        usage: { output_tokens: number }
      }
      expect(delta.usage.output_tokens).toBe(expected.usage.completion_tokens)

      const final = await client.messages
        .stream({ model: gpt, max_tokens: 64, messages: [{ role: 'user', content: 'stream gpt' }] })
        .finalMessage()
      expect(final.content).toEqual([{ type: 'text', text: 'echo: stream gpt' }])
      expect(final.stop_reason).toBe('end_turn')
    })

    it('converts tools both ways: tool_use out, tool_result back in', async () => {
      const first = await client.messages.create({
        model: gpt,
        max_tokens: 64,
        tools: [weather],
        messages: [{ role: 'user', content: 'use tool' }],
      })
      expect((openAIChats()[0].body as { tools: unknown[] }).tools).toEqual([
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather for a city',
            parameters: weather.input_schema,
          },
        },
      ])
      expect(first.stop_reason).toBe('tool_use')
      const toolUse = first.content.find((block) => block.type === 'tool_use')
      expect(toolUse).toMatchObject({ name: 'get_weather', input: { city: 'sample city' } })
      const second = await client.messages.create({
        model: gpt,
        max_tokens: 64,
        tools: [weather],
        messages: [
          { role: 'user', content: 'use tool' },
          { role: 'assistant', content: first.content },
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                tool_use_id: toolUse!.type === 'tool_use' ? toolUse!.id : '',
                content: 'rainy',
              },
            ],
          },
        ],
      })
      expect(second.content).toEqual([{ type: 'text', text: 'tool result received: rainy' }])
      const sent = (
        openAIChats()[1].body as { messages: { role: string; tool_call_id?: string }[] }
      ).messages
      expect(sent.map((message) => message.role)).toEqual(['user', 'assistant', 'tool'])
    })

    it('streams parallel tool calls as tool_use blocks the SDK parses', async () => {
      const final = await client.messages
        .stream({
          model: gpt,
          max_tokens: 64,
          tools: [weather, time],
          messages: [{ role: 'user', content: 'use tools in parallel' }],
        })
        .finalMessage()
      expect(final.stop_reason).toBe('tool_use')
      expect(
        final.content
          .filter((block) => block.type === 'tool_use')
          .map((block) => [block.name, block.input])
      ).toEqual([
        ['get_weather', { city: 'sample city' }],
        ['get_time', {}],
      ])
    })

    it('estimates count_tokens locally and says so', async () => {
      const response = await client.messages
        .countTokens({ model: gpt, messages: [{ role: 'user', content: 'count these words' }] })
        .withResponse()
      expect(response.data.input_tokens).toBeGreaterThan(0)
      expect(response.response.headers.get('x-gatehouse-token-count')).toBe('estimated')
      expect(openAIChats()).toHaveLength(0)
    })

    it("carries the client's disconnect to the OpenAI upstream", async () => {
      gateway.openai.enqueue({ stallAfterChunks: 2 })
      const stream = client.messages.stream({
        model: gpt,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'hang up' }],
      })
      const done = caught(stream.done())
      await new Promise<void>((resolve) => stream.on('streamEvent', () => resolve()))
      const [upstream] = openAIChats()
      expect(upstream.aborted).toBe(false)
      stream.abort()
      await done
      expect(await upstream.settled).toBe('aborted')
    })
  })
})
