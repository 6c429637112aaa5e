/**
 * A Responses API client's settings on a route whose upstream speaks only Chat Completions (an `openai-compatible`
 * provider without `compat.responses`), through the real Node server: the request is converted to
 * `POST /v1/chat/completions`, and a client replaying the settings a Response echoes (`top_logprobs: 0` among them)
 * is answered, not refused; log probabilities actually asked for (`top_logprobs` above 0), which a converted answer
 * cannot carry, are still a 400 naming the field before anything is sent.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { NodeServer } from '../../src/runtime/node.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'responses-to-chat-settings-master-key'
const model = 'compat/c3'
let upstream: MockUpstream
let gateway: NodeServer
let client: OpenAI

const upstreamBodies = () =>
  upstream.requests.map((request) => ({
    path: request.path,
    body: request.body as Record<string, unknown>,
  }))

beforeAll(async () => {
  preloadOpenAIValidator()
  upstream = await startMockOpenAIUpstream({ streamChunks: 3 })
  gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      'providers:',
      `  compat: { type: openai-compatible, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false }`,
      'retry: { maxRetries: 0 }',
    ],
  })
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: masterKey, maxRetries: 0 })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

beforeEach(() => upstream.reset())

describe('Responses client → gateway → Chat-Completions-only upstream: replayed settings', () => {
  it('sends the end user, the prompt cache key, the service tier and the verbosity under their Chat names', async () => {
    const params = {
      model,
      input: 'hi',
      store: false,
      user: 'u1',
      safety_identifier: 'user-hash',
      prompt_cache_key: 'pck-1',
      service_tier: 'flex',
      text: { verbosity: 'low' },
    } as const
    for (const stream of [false, true]) {
      upstream.reset()
      const raw = await fetch(`${gateway.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...params, stream }),
      })
      expect(raw.status).toBe(200)
      expect(raw.headers.get('x-gatehouse-omitted-params')).toBeNull()
      await raw.text()
      const [sent] = upstreamBodies()
      expect(sent.path).toBe('/v1/chat/completions')
      expect(sent.body).toMatchObject({
        user: 'u1',
        safety_identifier: 'user-hash',
        prompt_cache_key: 'pck-1',
        service_tier: 'flex',
        verbosity: 'low',
      })
    }
  })

  it('answers a request replaying the settings a Response echoes, `top_logprobs: 0` included', async () => {
    const first = await client.responses.create({ model, input: 'hi', store: false })
    expectValidOpenAI('Response', first)
    expect(first.top_logprobs).toBe(0)

    upstream.reset()
    const { data: replayed, response: raw } = await client.responses
      .create({
        model,
        input: 'hi again',
        store: false,
        top_logprobs: first.top_logprobs,
        temperature: first.temperature,
        top_p: first.top_p,
        parallel_tool_calls: first.parallel_tool_calls,
        truncation: first.truncation,
      })
      .withResponse()
    expect(raw.status).toBe(200)
    expectValidOpenAI('Response', replayed)
    expect(replayed).toMatchObject({ object: 'response', status: 'completed', top_logprobs: 0 })
    expect(replayed.output_text).toContain('hi again')

    const sent = upstreamBodies()
    expect(sent.map((request) => request.path)).toEqual(['/v1/chat/completions'])
    expect(sent[0].body).toMatchObject({ model: 'c3', temperature: 1, top_p: 1 })
    // 0 asks for none: nothing of log probabilities reaches the upstream.
    expect(sent[0].body).not.toHaveProperty('logprobs')
    expect(sent[0].body).not.toHaveProperty('top_logprobs')
  })

  it('streams a replayed request with `top_logprobs: 0` to its `response.completed`', async () => {
    const stream = await client.responses.create({
      model,
      input: 'stream it',
      store: false,
      stream: true,
      top_logprobs: 0,
    })
    const types: string[] = []
    let completed: OpenAI.Responses.Response | undefined
    for await (const event of stream) {
      types.push(event.type)
      if (event.type === 'response.completed') completed = event.response
    }
    expect(types[0]).toBe('response.created')
    expect(types.at(-1)).toBe('response.completed')
    expectValidOpenAI('Response', completed)
    expect(completed).toMatchObject({ status: 'completed', top_logprobs: 0 })
    const sent = upstreamBodies()
    expect(sent.map((request) => request.path)).toEqual(['/v1/chat/completions'])
    expect(sent[0].body).not.toHaveProperty('logprobs')
    expect(sent[0].body).not.toHaveProperty('top_logprobs')
  })

  it('refuses log probabilities actually asked for with a 400 naming `top_logprobs`, sending nothing', async () => {
    const error = await client.responses
      .create({ model, input: 'hi', store: false, top_logprobs: 2 })
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    const refusal = error as InstanceType<typeof OpenAI.BadRequestError>
    expect(refusal.status).toBe(400)
    expect(refusal.param).toBe('top_logprobs')
    expect(refusal.message).toContain(
      'Log probabilities are not supported by the provider serving this model.'
    )
    expect(upstream.requests).toHaveLength(0)
  })
})
