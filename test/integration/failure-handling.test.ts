/**
 * Failure handling end to end: the real Node server, real undici transport and mock upstreams with fault injection,
 * driven by the official SDKs where the client's reaction is the point (a raised error, no client retry).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'
import {
  MOCK_ANTHROPIC_API_KEY,
  startMockAnthropicUpstream,
} from '../helpers/mock-anthropic-upstream.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'

const masterKey = 'test-master-key'

type Gateway = { server: NodeServer; url: string }

const startGateway = async (yaml: string): Promise<Gateway> => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-failures-'))
  writeFileSync(join(cwd, 'gatehouse.yaml'), yaml)
  const server = await startNodeServer({
    env: { GATEHOUSE_CONFIG: 'gatehouse.yaml', PORT: '0', LOG_LEVEL: 'error' },
    cwd,
    stdout: () => {},
  })
  return { server, url: server.url }
}

const post = (
  gateway: Gateway,
  path: string,
  body: unknown,
  headers: Record<string, string> = {}
) =>
  fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${masterKey}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })

const chatBody = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'hello there' }],
  ...extra,
})

const waitFor = async (condition: () => boolean, timeoutMs = 3000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

let primary: MockUpstream
let backup: MockUpstream
let claude: MockUpstream
/** Checks the key Groq's keys look like (`gsk_`), which nothing but its value can find in a message. */
let groq: MockUpstream
const groqKey = 'gsk_live_failureHandling0123456789'
let gateway: Gateway

beforeAll(async () => {
  ;[primary, backup, claude, groq] = await Promise.all([
    startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY, streamChunks: 6 }),
    startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY }),
    startMockAnthropicUpstream({ apiKey: MOCK_ANTHROPIC_API_KEY }),
    startMockOpenAIUpstream({ apiKey: groqKey }),
  ])
  gateway = await startGateway(`
server: { bodyLimitBytes: 200000 }
auth: { masterKey: ${masterKey} }
providers:
  primary: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${primary.baseUrl}", discoverModels: false, models: [gpt-4o-mini] }
  backup: { type: openai-compatible, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${backup.baseUrl}", discoverModels: false }
  badkey: { type: openai, apiKey: sk-wrong-secret-key-123456, baseUrl: "${backup.baseUrl}", discoverModels: false }
  groq: { type: openai-compatible, apiKey: ${groqKey}, baseUrl: "${groq.baseUrl}", discoverModels: false, headers: { x-org-token: org-token-secret-4242 } }
  claude: { type: anthropic, apiKey: ${MOCK_ANTHROPIC_API_KEY}, baseUrl: "${claude.baseUrl}", discoverModels: false }
routes:
  - name: resilient
    targets: [{ provider: primary, model: gpt-4o-mini }, { provider: backup, model: gpt-4o-mini }]
  - name: fast-fallback
    targets: [{ provider: primary, model: gpt-4o-mini }, { provider: backup, model: gpt-4o-mini }]
    fallbackOn: [503]
  - name: key-then-backup
    targets: [{ provider: badkey, model: gpt-4o-mini }, { provider: backup, model: gpt-4o-mini }]
  - name: impatient
    targets: [{ provider: primary, model: gpt-4o-mini }]
    timeouts: { firstByteMs: 100 }
defaultProvider: { openai: primary, anthropic: claude }
retry: { initialDelayMs: 5, maxDelayMs: 20 }
timeouts: { firstByteMs: 500, idleMs: 500, totalMs: 8000 }
circuitBreaker: { enabled: false }
`)
})

afterAll(async () => {
  await gateway?.server.close()
  await Promise.all([primary?.close(), backup?.close(), claude?.close(), groq?.close()])
})

beforeEach(() => {
  primary.reset()
  backup.reset()
  claude.reset()
  groq.reset()
})

describe('errors in the client dialect', () => {
  it('answers malformed JSON with a 400 in OpenAI shape on OpenAI routes and Anthropic shape on Anthropic routes', async () => {
    const openai = await post(gateway, '/v1/chat/completions', '{"model": "gpt-4o-mini", ')
    expect(openai.status).toBe(400)
    const openaiBody = (await openai.json()) as { error: Record<string, unknown> }
    expect(openaiBody.error).toMatchObject({ type: 'invalid_request_error' })
    expect(Object.keys(openaiBody.error).sort()).toEqual(['code', 'message', 'param', 'type'])

    const anthropic = await post(gateway, '/v1/messages', '{"model": ', {
      'anthropic-version': '2023-06-01',
    })
    expect(anthropic.status).toBe(400)
    const anthropicBody = (await anthropic.json()) as Record<string, unknown>
    expect(anthropicBody).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    expect(anthropicBody.request_id).toBe(anthropic.headers.get('request-id'))
  })

  it('names the failing field of a bad body', async () => {
    const response = await post(gateway, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 7, content: 'x' }],
    })
    expect(response.status).toBe(400)
    const body = (await response.json()) as { error: { param: string; message: string } }
    expect(body.error.param).toBe('messages.0.role')
    expect(body.error.message).toContain('messages.0.role')
  })

  it('requires the key, as Bearer or x-api-key, in each dialect', async () => {
    const missing = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chatBody('gpt-4o-mini')),
    })
    expect(missing.status).toBe(401)
    expect(((await missing.json()) as { error: { type: string } }).error.type).toBe(
      'invalid_request_error'
    )

    const wrong = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': 'nope',
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify({
        model: 'claude-sonnet-4-6',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    })
    expect(wrong.status).toBe(401)
    expect(await wrong.json()).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    })

    const viaApiKey = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'x-api-key': masterKey, 'content-type': 'application/json' },
      body: JSON.stringify(chatBody('gpt-4o-mini')),
    })
    expect(viaApiKey.status).toBe(200)
  })

  it('rejects a body over the limit with a 413 and stays healthy', async () => {
    const huge = JSON.stringify(chatBody('gpt-4o-mini', { padding: 'x'.repeat(300_000) }))
    const response = await post(gateway, '/v1/chat/completions', huge)
    expect(response.status).toBe(413)
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain(
      'larger than'
    )
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)
    expect((await post(gateway, '/v1/chat/completions', chatBody('gpt-4o-mini'))).status).toBe(200)
  })

  it('also rejects an oversized body sent without a content-length (chunked)', async () => {
    const payload = new TextEncoder().encode(
      JSON.stringify(chatBody('gpt-4o-mini', { padding: 'x'.repeat(300_000) }))
    )
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < payload.length; offset += 16_384)
          controller.enqueue(payload.subarray(offset, offset + 16_384))
        controller.close()
      },
    })
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(413)
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)

    const small = new TextEncoder().encode(JSON.stringify(chatBody('gpt-4o-mini')))
    const accepted = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(small.subarray(0, 10))
          controller.enqueue(small.subarray(10))
          controller.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)
    expect(accepted.status).toBe(200)
    expect(((await accepted.json()) as { object: string }).object).toBe('chat.completion')
  })

  it('answers an unknown model with a 404, also when streaming was asked', async () => {
    const response = await post(
      gateway,
      '/v1/chat/completions',
      chatBody('nosuch/model-x', { stream: true })
    )
    expect(response.status).toBe(404)
    expect(response.headers.get('content-type')).toContain('application/json')
    expect(await response.json()).toMatchObject({
      error: { code: 'model_not_found', param: 'model' },
    })

    const anthropic = await post(
      gateway,
      '/v1/messages',
      {
        model: 'nosuch/model-x',
        max_tokens: 10,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      },
      { 'anthropic-version': '2023-06-01' }
    )
    expect(anthropic.status).toBe(404)
    expect(anthropic.headers.get('content-type')).toContain('application/json')
    expect(await anthropic.json()).toMatchObject({
      type: 'error',
      error: { type: 'not_found_error' },
    })
  })

  it('echoes the client request id and generates one otherwise', async () => {
    const echoed = await post(gateway, '/v1/chat/completions', chatBody('gpt-4o-mini'), {
      'x-request-id': 'client-abc-123',
    })
    expect(echoed.headers.get('x-request-id')).toBe('client-abc-123')
    const generated = await post(gateway, '/v1/chat/completions', chatBody('gpt-4o-mini'))
    expect(generated.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/)
    expect(generated.headers.get('x-gatehouse-provider')).toBe('primary')
    expect(generated.headers.get('x-gatehouse-attempts')).toBe('1')
  })
})

describe('retries', () => {
  it('retries a 429 after its retry-after-ms and succeeds', async () => {
    primary.enqueue({ status: 429, headers: { 'retry-after-ms': '50' } })
    const started = Date.now()
    const response = await post(gateway, '/v1/chat/completions', chatBody('primary/gpt-4o-mini'))
    expect(response.status).toBe(200)
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    expect(response.headers.get('x-gatehouse-attempts')).toBe('2')
    expect(primary.requests.filter((request) => request.method === 'POST')).toHaveLength(2)
  })

  it('never retries a 400 and keeps the upstream message, code and param', async () => {
    primary.enqueue({
      status: 400,
      body: {
        error: {
          message: "This model's maximum context length is 128000 tokens.",
          type: 'invalid_request_error',
          param: 'messages',
          code: 'context_length_exceeded',
        },
      },
    })
    const response = await post(gateway, '/v1/chat/completions', chatBody('primary/gpt-4o-mini'))
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({
      error: {
        code: 'context_length_exceeded',
        param: 'messages',
        message: expect.stringContaining('maximum context length'),
      },
    })
    expect(primary.requests.filter((request) => request.method === 'POST')).toHaveLength(1)
  })

  it('spends its retries on 500s, then answers 502 with x-should-retry: false, which the OpenAI SDK obeys', async () => {
    primary.enqueue({ status: 500 }, { status: 500 }, { status: 500 })
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: masterKey })
    const error = await client.chat.completions
      .create(chatBody('primary/gpt-4o-mini') as never)
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502)
    expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe(
      'false'
    )
    expect(primary.requests.filter((request) => request.method === 'POST')).toHaveLength(3)
  })
})

describe('fallback', () => {
  it('falls back to the next target once the first has spent its retries', async () => {
    primary.enqueue(
      { destroyConnection: true },
      { destroyConnection: true },
      { destroyConnection: true }
    )
    const response = await post(gateway, '/v1/chat/completions', chatBody('resilient'))
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gatehouse-provider')).toBe('backup')
    expect(response.headers.get('x-gatehouse-model')).toBe('gpt-4o-mini')
    expect(response.headers.get('x-gatehouse-attempts')).toBe('4')
  })

  it('falls back at once on a status listed in fallbackOn', async () => {
    primary.enqueue({ status: 503 })
    const response = await post(gateway, '/v1/chat/completions', chatBody('fast-fallback'))
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gatehouse-provider')).toBe('backup')
    expect(primary.requests.filter((request) => request.method === 'POST')).toHaveLength(1)
  })

  it('treats an upstream 401 as the gateway key being wrong: next target, and never leaks the key', async () => {
    const response = await post(gateway, '/v1/chat/completions', chatBody('key-then-backup'))
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gatehouse-provider')).toBe('backup')

    const direct = await post(gateway, '/v1/chat/completions', chatBody('badkey/gpt-4o-mini'))
    expect(direct.status).toBe(502)
    const text = await direct.text()
    expect(text).not.toContain('sk-wrong-secret-key-123456')
    expect(text).toContain('credentials')
  })

  it("passes an upstream error's retry hints, rate limits and request id on, as an answered call's", async () => {
    const upstreamHeaders = {
      'x-should-retry': 'false',
      'retry-after': '1',
      'retry-after-ms': '900',
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '0',
      'x-request-id': 'req_upstream_429',
    }
    const refusal = {
      status: 429,
      headers: upstreamHeaders,
      body: { error: { message: 'Rate limit reached for requests', type: 'requests' } },
    }
    backup.enqueue(refusal, refusal)
    for (const path of ['/v1/chat/completions', '/v1/messages']) {
      const response = await post(gateway, path, {
        ...chatBody('backup/gpt-4o-mini'),
        max_tokens: 16,
      })
      expect(response.status).toBe(429)
      await response.arrayBuffer()
      expect(Object.fromEntries(response.headers)).toMatchObject({
        'retry-after': '1',
        'retry-after-ms': '900',
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '0',
        'x-gatehouse-upstream-request-id': 'req_upstream_429',
        'x-should-retry': 'false',
      })
    }
  })

  it('never passes on a credential of its own that an upstream message repeats, whatever it looks like, in either dialect', async () => {
    // Groq's keys start with `gsk_`, not `sk-`: only the value itself can find them in a message.
    const echoed = `Invalid API Key provided: ${groqKey} (org org-token-secret-4242)`
    const secrets = [groqKey, 'org-token-secret-4242']
    const failures = [
      { status: 400, body: { error: { message: echoed, type: 'invalid_request_error' } } },
      { status: 400, body: { error: { message: echoed, type: 'invalid_request_error' } } },
      { inBandError: true as const, error: { message: echoed } },
      { inBandError: true as const, error: { message: echoed } },
    ]
    groq.enqueue(...failures)
    const openai = await post(gateway, '/v1/chat/completions', chatBody('groq/gpt-4o-mini'))
    const anthropic = await post(gateway, '/v1/messages', {
      ...chatBody('groq/gpt-4o-mini'),
      max_tokens: 16,
    })
    // Converted, so the stream's error event is the gateway's own (a forwarded stream's is the upstream's bytes).
    const streamed = await post(gateway, '/v1/messages', {
      ...chatBody('groq/gpt-4o-mini', { stream: true }),
      max_tokens: 16,
    })
    // Same dialect, so the stream is the upstream's bytes, its error event included: masked all the same.
    const forwarded = await post(
      gateway,
      '/v1/chat/completions',
      chatBody('groq/gpt-4o-mini', { stream: true })
    )
    const answers = [
      { status: openai.status, text: await openai.text() },
      { status: anthropic.status, text: await anthropic.text() },
      { status: streamed.status, text: await streamed.text() },
      { status: forwarded.status, text: await forwarded.text() },
    ]
    expect(answers.map((answer) => answer.status)).toEqual([400, 400, 200, 200])
    for (const { text } of answers) {
      expect(text).toContain('Invalid API Key provided: [redacted]')
      for (const secret of secrets) expect(text).not.toContain(secret)
    }
  })

  it("masks a credential an upstream puts in an error's param, code or type, or in the headers passed on", async () => {
    const failure = {
      status: 400,
      body: {
        error: {
          message: 'Bad request',
          type: `invalid ${groqKey}`,
          param: `Bearer ${groqKey}`,
          code: groqKey,
        },
      },
      headers: { 'x-request-id': `Bearer ${groqKey}`, 'retry-after': groqKey },
    }
    groq.enqueue(failure, failure)
    const plain = await post(gateway, '/v1/chat/completions', chatBody('groq/gpt-4o-mini'))
    const streamed = await post(
      gateway,
      '/v1/chat/completions',
      chatBody('groq/gpt-4o-mini', { stream: true })
    )
    for (const response of [plain, streamed]) {
      expect(response.status).toBe(400)
      const text = await response.text()
      expect(JSON.parse(text)).toMatchObject({
        error: { param: 'Bearer [redacted]', code: '[redacted]' },
      })
      expect(text).not.toContain(groqKey)
      expect([...response.headers].join('\n')).not.toContain(groqKey)
      expect(response.headers.get('x-gatehouse-upstream-request-id')).toBe('Bearer [redacted]')
    }
  })

  it("answers 502 in the client's dialect for a same-dialect upstream that answers 200 with nonsense, streamed or not", async () => {
    primary.enqueue({ garbage: true })
    const plain = await post(gateway, '/v1/chat/completions', chatBody('primary/gpt-4o-mini'))
    expect(plain.status).toBe(502)
    expect(await plain.json()).toMatchObject({
      error: { type: 'server_error', code: 'upstream_error' },
    })

    primary.enqueue({ garbage: true })
    const streamed = await post(
      gateway,
      '/v1/chat/completions',
      chatBody('primary/gpt-4o-mini', { stream: true })
    )
    expect(streamed.status).toBe(502)
    expect(streamed.headers.get('content-type')).toContain('application/json')
    const body = await streamed.text()
    expect(body).toContain('not JSON')
    expect(body).not.toContain('<html>')

    claude.enqueue({ garbage: true })
    const anthropic = await post(
      gateway,
      '/v1/messages',
      {
        model: 'claude/claude-sonnet-4-5',
        max_tokens: 50,
        messages: [{ role: 'user', content: 'hi' }],
      },
      { 'anthropic-version': '2023-06-01' }
    )
    expect(anthropic.status).toBe(502)
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'api_error' } })
  })

  it('falls back to the next target when the first answers 200 with nonsense', async () => {
    primary.enqueue({ garbage: true })
    const response = await post(
      gateway,
      '/v1/chat/completions',
      chatBody('resilient', { stream: true })
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gatehouse-provider')).toBe('backup')
    expect(await response.text()).toContain('data: [DONE]')
  })

  it('falls back when the first byte is too slow', async () => {
    primary.enqueue(
      { delayFirstByteMs: 2000 },
      { delayFirstByteMs: 2000 },
      { delayFirstByteMs: 2000 }
    )
    const response = await post(
      gateway,
      '/v1/chat/completions',
      chatBody('resilient', { stream: true })
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gatehouse-provider')).toBe('backup')
    expect(await response.text()).toContain('data: [DONE]')
  })

  it("applies a route's own first-byte timeout over the global one", async () => {
    primary.enqueue({ delayFirstByteMs: 250 }, { delayFirstByteMs: 250 }, { delayFirstByteMs: 250 })
    const impatient = await post(gateway, '/v1/chat/completions', chatBody('impatient'))
    expect(impatient.status).toBe(504)
    expect(impatient.headers.get('x-gatehouse-attempts')).toBe('3')
    primary.reset()
    // The same delay fits the global 500 ms, with room to spare.
    primary.enqueue({ delayFirstByteMs: 250 })
    const patient = await post(gateway, '/v1/chat/completions', chatBody('primary/gpt-4o-mini'))
    expect(patient.status).toBe(200)
  })

  it('answers 504 when every attempt times out', async () => {
    primary.enqueue(
      { delayFirstByteMs: 2000 },
      { delayFirstByteMs: 2000 },
      { delayFirstByteMs: 2000 }
    )
    const response = await post(gateway, '/v1/chat/completions', chatBody('primary/gpt-4o-mini'))
    expect(response.status).toBe(504)
    expect(response.headers.get('x-should-retry')).toBe('false')
  })
})

describe('failures after the first byte', () => {
  it('ends a stalled OpenAI stream with an error event that the SDK raises', async () => {
    primary.enqueue({ stallAfterChunks: 2 })
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: masterKey, maxRetries: 0 })
    const stream = await client.chat.completions.create({
      ...(chatBody('primary/gpt-4o-mini') as object),
      stream: true,
    } as never)
    const received: unknown[] = []
    const error = await (async () => {
      for await (const chunk of stream as unknown as AsyncIterable<unknown>) received.push(chunk)
    })().catch((caught: unknown) => caught)
    expect(received.length).toBeGreaterThan(0)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect(String((error as Error).message)).toMatch(/sent nothing for 500 ms/)
    await waitFor(() => primary.requests.some((request) => request.aborted))
  })

  it('ends an OpenAI stream whose upstream connection drops with an error event', async () => {
    primary.enqueue({ dropAfterChunks: 2 })
    const response = await post(
      gateway,
      '/v1/chat/completions',
      chatBody('primary/gpt-4o-mini', { stream: true })
    )
    expect(response.status).toBe(200)
    const text = await response.text()
    expect(text).toMatch(/data: \{"error":\{"message":/)
    expect(text).not.toContain('[DONE]')
  })

  it('ends a stalled Anthropic stream with event: error, which the Anthropic SDK raises', async () => {
    claude.enqueue({ stallAfterChunks: 3 })
    const client = new Anthropic({ baseURL: gateway.url, apiKey: masterKey, maxRetries: 0 })
    const stream = client.messages.stream({
      model: 'claude-sonnet-4-6',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hello' }],
    })
    const error = await stream.finalMessage().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(Anthropic.APIError)
    expect(String((error as Error).message)).toMatch(/timeout|timed out|idle/i)
  })

  it('aborts the upstream request when the client disconnects', async () => {
    primary.enqueue({ stallAfterChunks: 1 })
    const response = await post(
      gateway,
      '/v1/chat/completions',
      chatBody('primary/gpt-4o-mini', { stream: true })
    )
    const reader = response.body!.getReader()
    await reader.read()
    await reader.cancel()
    await waitFor(() => primary.requests.some((request) => request.aborted))
  })
})

describe('circuit breaker', () => {
  it('opens after repeated failures so a dead target costs no attempt, and the route falls back at once', async () => {
    const dead = await startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY })
    const local = await startGateway(`
auth: { masterKey: ${masterKey} }
providers:
  dead: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${dead.baseUrl}", discoverModels: false }
  backup: { type: openai-compatible, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${backup.baseUrl}", discoverModels: false }
routes:
  - name: guarded
    targets: [{ provider: dead, model: gpt-4o-mini }, { provider: backup, model: gpt-4o-mini }]
retry: { maxRetries: 0 }
circuitBreaker: { minFailures: 3, failureRatio: 0.5, openMs: 60000 }
`)
    try {
      for (let index = 0; index < 3; index += 1) dead.enqueue({ status: 500 })
      for (let index = 0; index < 3; index += 1) {
        const response = await post(local, '/v1/chat/completions', chatBody('guarded'))
        expect(response.headers.get('x-gatehouse-provider')).toBe('backup')
      }
      const deadCalls = dead.requests.filter((request) => request.method === 'POST').length
      expect(deadCalls).toBe(3)
      const response = await post(local, '/v1/chat/completions', chatBody('guarded'))
      expect(response.status).toBe(200)
      expect(response.headers.get('x-gatehouse-attempts')).toBe('1')
      expect(dead.requests.filter((request) => request.method === 'POST')).toHaveLength(deadCalls)
    } finally {
      await local.server.close()
      await dead.close()
    }
  })
})
