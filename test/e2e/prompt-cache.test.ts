/**
 * The prompt cache seen by the official SDKs: a hit is what the client would have read from upstream, streamed or
 * not, whichever way the answer was first made (streamed or not, forwarded or converted), in OpenAI's shapes (checked
 * against its OpenAPI document, chunk by chunk) and Anthropic's event sequence (the SDK's stream helper assembles it).
 */
import type Anthropic from '@anthropic-ai/sdk'
import type OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { startE2EGateway, type E2EGateway } from './start-e2e-gateway.ts'

let gateway: E2EGateway
let openai: OpenAI
let anthropic: Anthropic
let counter = 0
const unique = (label: string): string => `${label} #${(counter += 1)} ${Date.now()}`

const chatCalls = (): number =>
  gateway.openai.requests.filter((request) => request.path === '/v1/chat/completions').length
const messagesCalls = (): number =>
  gateway.anthropic.requests.filter((request) => request.path === '/v1/messages').length

/** Retries until the cache answers (its write follows the response). */
const untilHit = async <T>(
  send: () => Promise<{ data: T; response: Response }>
): Promise<{ data: T; response: Response }> => {
  const deadline = Date.now() + 3_000
  for (;;) {
    const reply = await send()
    if (reply.response.headers.get('x-gatehouse-cache') === 'hit') return reply
    if (Date.now() > deadline) throw new Error('never a hit')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const collect = async <T>(stream: AsyncIterable<T>): Promise<T[]> => {
  const items: T[] = []
  for await (const item of stream) items.push(item)
  return items
}

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}

beforeAll(async () => {
  preloadOpenAIValidator()
  gateway = await startE2EGateway({
    openai: { streamChunks: 4 },
    anthropic: { streamChunks: 4 },
    routes: [
      '  - name: cached-gpt',
      '    targets: [{ provider: openai, model: gpt-4o-mini }]',
      '    cache: { enabled: true }',
      '  - name: cached-claude',
      '    targets: [{ provider: anthropic, model: claude-sonnet-4-5 }]',
      '    cache: { enabled: true }',
    ],
  })
  openai = gateway.openAIClient()
  anthropic = gateway.anthropicClient()
})
afterAll(() => gateway?.close())

describe('OpenAI SDK', () => {
  it('reads a hit as the completion it first got, headers saying so', async () => {
    const params = {
      model: 'cached-gpt',
      messages: [{ role: 'user' as const, content: unique('hi') }],
    }
    const first = await openai.chat.completions.create(params).withResponse()
    expect(first.response.headers.get('x-gatehouse-cache')).toBe('miss')
    const before = chatCalls()
    const hit = await untilHit(() => openai.chat.completions.create(params).withResponse())
    expect(chatCalls()).toBe(before)
    expectValidOpenAI('CreateChatCompletionResponse', hit.data)
    expect(hit.data).toMatchObject({
      id: first.data.id,
      choices: first.data.choices,
      usage: first.data.usage,
    })
    expect(hit.response.headers.get('x-gatehouse-cache-key')).toBe(
      first.response.headers.get('x-gatehouse-cache-key')
    )
    expect(hit.response.headers.get('age')).toMatch(/^\d+$/)
  })

  it('streams a hit whose answer was not streamed: valid chunks, the usage chunk when asked, [DONE]', async () => {
    const content = unique('stream me later')
    const first = await openai.chat.completions.create({
      model: 'cached-gpt',
      messages: [{ role: 'user', content }],
    })
    const replay = await untilHit(() =>
      openai.chat.completions
        .create({
          model: 'cached-gpt',
          messages: [{ role: 'user', content }],
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse()
    )
    const chunks = await collect(replay.data)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    expect(chunks[0].choices[0].delta.role).toBe('assistant')
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(
      first.choices[0].message.content
    )
    expect(chunks.at(-2)?.choices[0].finish_reason).toBe('stop')
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: first.usage })
  })

  it('answers a non-streamed request from a streamed answer, and replays streamed tool calls to the stream helper', async () => {
    const content = `${unique('weather')} use tool`
    const params = {
      model: 'cached-gpt',
      messages: [{ role: 'user' as const, content }],
      tools: [weatherTool],
    }
    const streamed = await openai.chat.completions.stream(params).finalChatCompletion()
    const whole = await untilHit(() => openai.chat.completions.create(params).withResponse())
    expectValidOpenAI('CreateChatCompletionResponse', whole.data)
    expect(whole.data.choices[0].finish_reason).toBe('tool_calls')
    expect(whole.data.choices[0].message.tool_calls).toEqual(streamed.choices[0].message.tool_calls)
    const before = chatCalls()
    const replayed = await openai.chat.completions.stream(params).finalChatCompletion()
    expect(chatCalls()).toBe(before)
    expect(replayed.choices[0].message.tool_calls).toEqual(streamed.choices[0].message.tool_calls)
  })

  it('caches a converted answer (OpenAI client, Anthropic upstream)', async () => {
    const params = {
      model: 'cached-claude',
      messages: [{ role: 'user' as const, content: unique('cross') }],
    }
    const first = await openai.chat.completions.create(params)
    const before = messagesCalls()
    const hit = await untilHit(() => openai.chat.completions.create(params).withResponse())
    expect(messagesCalls()).toBe(before)
    expectValidOpenAI('CreateChatCompletionResponse', hit.data)
    expect(hit.data.choices).toEqual(first.choices)
  })
})

describe('Anthropic SDK', () => {
  it('assembles a streamed hit into the message it first got, whole', async () => {
    const params = {
      model: 'cached-claude',
      max_tokens: 128,
      messages: [{ role: 'user' as const, content: unique('claude') }],
    }
    const first = await anthropic.messages.create(params)
    const before = messagesCalls()
    await untilHit(() => anthropic.messages.create(params).withResponse())
    const replayed = await anthropic.messages.stream(params).finalMessage()
    expect(messagesCalls()).toBe(before)
    expect(replayed).toMatchObject({
      id: first.id,
      role: 'assistant',
      content: first.content,
      stop_reason: first.stop_reason,
      usage: { input_tokens: first.usage.input_tokens, output_tokens: first.usage.output_tokens },
    })
  })

  it('answers a non-streamed request from a streamed one, converted from an OpenAI upstream too', async () => {
    for (const model of ['cached-claude', 'cached-gpt']) {
      const params = {
        model,
        max_tokens: 128,
        messages: [{ role: 'user' as const, content: unique(`streamed first ${model}`) }],
      }
      const streamed = await anthropic.messages.stream(params).finalMessage()
      const whole = await untilHit(() => anthropic.messages.create(params).withResponse())
      expect(whole.data.content).toEqual(streamed.content)
      expect(whole.data.stop_reason).toBe(streamed.stop_reason)
      expect(whole.response.headers.get('x-gatehouse-cache')).toBe('hit')
    }
  })
})
