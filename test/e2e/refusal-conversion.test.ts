/**
 * A model's refusal across dialects, through the real Node server, with the official SDKs' structured-output helpers:
 * a refusal is never answer text (which `responses.parse` / `chat.completions.parse` would feed to `JSON.parse`).
 *
 * - Responses client → Chat-Completions-only upstream (`message.refusal`, `delta.refusal`): a `refusal` content part,
 *   streamed as `response.refusal.delta` / `response.refusal.done`.
 * - Chat client → Responses-only OpenAI model (`{type: "refusal"}` content part, `response.refusal.delta`):
 *   `message.refusal` with `content: null`, streamed as `delta.refusal`.
 * - Anthropic client → OpenAI-compatible upstream: the refusal as a text block, `stop_reason: "refusal"`.
 * - The prompt cache keeps a refusal a refusal when it replays it, streamed or not.
 *
 * Every converted answer and event is held to OpenAI's OpenAPI document.
 */
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { NodeServer } from '../../src/runtime/node.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'refusal-conversion-master-key'
const chatModel = 'compat/c3'
const responsesOnlyModel = 'openai/o3-pro'
const refusal = "I'm sorry, I can't help with that."
const created = 1_765_000_000

const answerSchema = {
  type: 'object',
  properties: { answer: { type: 'string' } },
  required: ['answer'],
  additionalProperties: false,
}

let upstream: MockUpstream
let responsesUpstream: MockUpstream
let gateway: NodeServer
let openai: OpenAI
let anthropic: Anthropic

const sse = (events: string[]) => ({
  status: 200,
  body: events.join(''),
  headers: { 'content-type': 'text/event-stream; charset=utf-8' },
})

const data = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`

/** What an OpenAI-compatible server answers when the model refuses: `content: null`, `refusal` set. */
const chatRefusal = () => ({
  status: 200,
  body: {
    id: 'chatcmpl-refused',
    object: 'chat.completion',
    created,
    model: 'c3',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: null, refusal, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
  },
})

const chatChunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
  id: 'chatcmpl-refused',
  object: 'chat.completion.chunk',
  created,
  model: 'c3',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
})

/** The same refusal streamed: `delta.refusal` pieces. */
const chatRefusalStream = () =>
  sse([
    data(chatChunk({ role: 'assistant', content: null, refusal: '' })),
    data(chatChunk({ refusal: "I'm sorry, " })),
    data(chatChunk({ refusal: "I can't help with that." })),
    data(chatChunk({}, 'stop')),
    data({
      ...chatChunk({}),
      choices: [],
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
    }),
    'data: [DONE]\n\n',
  ])

const responsesUsage = {
  input_tokens: 12,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 9,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 21,
}

const refusalMessage = {
  id: 'msg_refused',
  type: 'message',
  status: 'completed',
  role: 'assistant',
  content: [{ type: 'refusal', refusal }],
}

const responseOf = (status: string, output: unknown[]) => ({
  id: 'resp_refused',
  object: 'response',
  created_at: created,
  status,
  model: 'o3-pro',
  output,
  ...(status === 'completed' ? { usage: responsesUsage } : {}),
})

/** What OpenAI's Responses API answers when the model refuses: a `refusal` content part. */
const responsesRefusal = () => ({ status: 200, body: responseOf('completed', [refusalMessage]) })

const responsesRefusalStream = () => {
  let sequence = 0
  const event = (value: Record<string, unknown>): string =>
    `event: ${String(value.type)}\ndata: ${JSON.stringify({ ...value, sequence_number: sequence++ })}\n\n`
  const at = { item_id: 'msg_refused', output_index: 0, content_index: 0 }
  return sse([
    event({ type: 'response.created', response: responseOf('in_progress', []) }),
    event({ type: 'response.in_progress', response: responseOf('in_progress', []) }),
    event({
      type: 'response.output_item.added',
      output_index: 0,
      item: { ...refusalMessage, status: 'in_progress', content: [] },
    }),
    event({ type: 'response.content_part.added', ...at, part: { type: 'refusal', refusal: '' } }),
    event({ type: 'response.refusal.delta', ...at, delta: "I'm sorry, " }),
    event({ type: 'response.refusal.delta', ...at, delta: "I can't help with that." }),
    event({ type: 'response.refusal.done', ...at, refusal }),
    event({ type: 'response.content_part.done', ...at, part: { type: 'refusal', refusal } }),
    event({ type: 'response.output_item.done', output_index: 0, item: refusalMessage }),
    event({ type: 'response.completed', response: responseOf('completed', [refusalMessage]) }),
  ])
}

/** The `data:` payloads of an SSE body (`[DONE]` left out), parsed. */
const ssePayloads = (text: string): Record<string, unknown>[] =>
  text
    .split('\n\n')
    .flatMap((block) => block.split('\n').filter((line) => line.startsWith('data: ')))
    .map((line) => line.slice('data: '.length))
    .filter((payload) => payload !== '[DONE]')
    .map((payload) => JSON.parse(payload) as Record<string, unknown>)

const post = async (path: string, body: Record<string, unknown>): Promise<Response> => {
  const response = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  expect(response.status).toBe(200)
  return response
}

beforeAll(async () => {
  preloadOpenAIValidator()
  upstream = await startMockOpenAIUpstream()
  responsesUpstream = await startMockOpenAIUpstream()
  gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      'providers:',
      `  compat: { type: openai-compatible, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false }`,
      `  openai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${responsesUpstream.baseUrl}", discoverModels: false }`,
      'routes:',
      '  - name: cached-compat',
      '    targets: [{ provider: compat, model: c3 }]',
      '    cache: { enabled: true }',
      'retry: { maxRetries: 0 }',
    ],
  })
  openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: masterKey, maxRetries: 0 })
  anthropic = new Anthropic({ baseURL: gateway.url, apiKey: masterKey, maxRetries: 0 })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
  await responsesUpstream?.close()
})

beforeEach(() => {
  upstream.reset()
  responsesUpstream.reset()
})

const upstreamPaths = (mock: MockUpstream): string[] =>
  mock.requests.filter((request) => request.method === 'POST').map((request) => request.path)

describe('Responses client → Chat Completions upstream that refuses', () => {
  const params = {
    model: chatModel,
    input: 'Write something I should not ask for.',
    store: false,
    text: {
      format: { type: 'json_schema' as const, name: 'answer', schema: answerSchema, strict: true },
    },
  }

  it('answers a refusal content part; responses.parse reads it without parsing it', async () => {
    upstream.enqueue(chatRefusal(), chatRefusal())
    const raw = (await (await post('/v1/responses', params)).json()) as Record<string, unknown>
    expectValidOpenAI('Response', raw)
    expect(raw.status).toBe('completed')
    expect(raw.output).toEqual([
      expect.objectContaining({
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'refusal', refusal }],
      }),
    ])

    const parsed = await openai.responses.parse(params)
    expectValidOpenAI('Response', parsed)
    expect(parsed.output_text).toBe('')
    expect(parsed.output_parsed).toBeNull()
    const [message] = parsed.output
    expect(message.type === 'message' && message.content).toEqual([{ type: 'refusal', refusal }])
    expect(upstreamPaths(upstream)).toEqual(['/v1/chat/completions', '/v1/chat/completions'])
  })

  it('streams the refusal as response.refusal.delta / .done in a refusal part', async () => {
    upstream.enqueue(chatRefusalStream(), chatRefusalStream())
    const text = await (await post('/v1/responses', { ...params, stream: true })).text()
    const events = ssePayloads(text)
    for (const event of events) expectValidOpenAI('ResponseStreamEvent', event)
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.refusal.delta',
      'response.refusal.delta',
      'response.refusal.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(events[3]).toMatchObject({ content_index: 0, part: { type: 'refusal', refusal: '' } })
    expect(events[6]).toMatchObject({ content_index: 0, refusal })
    const completed = events.at(-1)!.response as { output: unknown[] }
    expect(completed.output).toEqual([
      expect.objectContaining({ type: 'message', content: [{ type: 'refusal', refusal }] }),
    ])

    const stream = openai.responses.stream(params)
    const final = await stream.finalResponse()
    expect(final.output_parsed).toBeNull()
    const [message] = final.output
    expect(message.type === 'message' && message.content).toEqual([
      expect.objectContaining({ type: 'refusal', refusal }),
    ])
  })
})

describe('Chat Completions client → Responses-only OpenAI model that refuses', () => {
  const params = {
    model: responsesOnlyModel,
    messages: [{ role: 'user' as const, content: 'Write something I should not ask for.' }],
    response_format: {
      type: 'json_schema' as const,
      json_schema: { name: 'answer', schema: answerSchema, strict: true },
    },
  }

  it('answers message.refusal with content null; chat.completions.parse reads it', async () => {
    responsesUpstream.enqueue(responsesRefusal())
    const completion = await openai.chat.completions.parse(params)
    expectValidOpenAI('CreateChatCompletionResponse', completion)
    expect(completion.choices[0].message).toMatchObject({
      role: 'assistant',
      content: null,
      refusal,
      parsed: null,
    })
    expect(completion.choices[0].finish_reason).toBe('stop')
    expect(upstreamPaths(responsesUpstream)).toEqual(['/v1/responses'])
  })

  it('streams the refusal as delta.refusal; the stream helper ends with refusal set', async () => {
    responsesUpstream.enqueue(responsesRefusalStream(), responsesRefusalStream())
    const text = await (
      await post('/v1/chat/completions', {
        ...params,
        stream: true,
        stream_options: { include_usage: true },
      })
    ).text()
    const chunks = ssePayloads(text)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    const deltas = chunks.flatMap((chunk) =>
      (chunk.choices as { delta: Record<string, unknown> }[]).map((choice) => choice.delta)
    )
    expect(deltas.map((delta) => delta.refusal ?? '').join('')).toBe(refusal)
    expect(deltas.map((delta) => delta.content ?? '').join('')).toBe('')

    const stream = openai.chat.completions.stream(params)
    const final = await stream.finalChatCompletion()
    expect(final.choices[0].message).toMatchObject({ refusal, parsed: null })
    expect(final.choices[0].message.content ?? '').toBe('')
  })
})

describe('Anthropic client → OpenAI-compatible upstream that refuses', () => {
  const params = {
    model: chatModel,
    max_tokens: 100,
    messages: [{ role: 'user' as const, content: 'Write something I should not ask for.' }],
  }

  it('stops for refusal, the refusal as a text block', async () => {
    upstream.enqueue(chatRefusal())
    const message = await anthropic.messages.create(params)
    expect(message.stop_reason).toBe('refusal')
    expect(message.content).toEqual([{ type: 'text', text: refusal }])
    expect(message.stop_details).toEqual({ type: 'refusal', category: null, explanation: refusal })
  })

  it('streams it the same way', async () => {
    upstream.enqueue(chatRefusalStream())
    const message = await anthropic.messages.stream(params).finalMessage()
    expect(message.stop_reason).toBe('refusal')
    expect(message.content).toEqual([{ type: 'text', text: refusal }])
    expect(message.stop_details).toEqual({ type: 'refusal', category: null, explanation: refusal })
  })
})

describe('the prompt cache replays a refusal as a refusal', () => {
  /** Retries until the cache answers (its write follows the response). */
  const untilHit = async (send: () => Promise<Response>): Promise<Response> => {
    const deadline = Date.now() + 3_000
    for (;;) {
      const response = await send()
      if (response.headers.get('x-gatehouse-cache') === 'hit') return response
      await response.body?.cancel()
      if (Date.now() > deadline) throw new Error('never a hit')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  it('serves a streamed refusal to a later non-streamed and streamed request', async () => {
    const body = {
      model: 'cached-compat',
      messages: [{ role: 'user', content: `refuse me ${Date.now()}` }],
    }
    upstream.enqueue(chatRefusalStream())
    await (await post('/v1/chat/completions', { ...body, stream: true })).text()

    const hit = (await (await untilHit(() => post('/v1/chat/completions', body))).json()) as {
      choices: { message: Record<string, unknown> }[]
    }
    expectValidOpenAI('CreateChatCompletionResponse', hit)
    expect(hit.choices[0].message).toMatchObject({ content: null, refusal })

    const replay = await untilHit(() => post('/v1/chat/completions', { ...body, stream: true }))
    const chunks = ssePayloads(await replay.text())
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    const deltas = chunks.flatMap((chunk) =>
      (chunk.choices as { delta: Record<string, unknown> }[]).map((choice) => choice.delta)
    )
    expect(deltas.map((delta) => delta.refusal ?? '').join('')).toBe(refusal)
    expect(deltas.map((delta) => delta.content ?? '').join('')).toBe('')
    expect(upstreamPaths(upstream)).toEqual(['/v1/chat/completions'])
  })
})
