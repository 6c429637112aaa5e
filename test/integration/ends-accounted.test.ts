/**
 * How a request's end reaches the client, the usage record, the log and the circuit breaker, through the real Node
 * server: a forwarded stream the upstream stops short of its end (no `[DONE]`, no `message_stop`) is a failure, told
 * to the client in its dialect; one whose upstream reported its own failure in-band is recorded as failed; and a
 * client that leaves, mid-stream (converted or not) or while it sends its body, is a client gone (`client_aborted`),
 * not an internal error.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'
import {
  MOCK_ANTHROPIC_API_KEY,
  startMockAnthropicUpstream,
} from '../helpers/mock-anthropic-upstream.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'

const masterKey = 'stream-ends-master-key'
const lines: string[] = []
let openai: MockUpstream
let backup: MockUpstream
let claude: MockUpstream
let slowOpenAI: MockUpstream
let slowClaude: MockUpstream
let server: NodeServer

type UsageRecord = {
  requestId: string
  status: number
  error: string | null
  clientAborted: boolean
  provider: string
  usage: { inputTokens: number | null; outputTokens: number | null } | null
  costMicroUsd: number | null
  estimated: boolean
}

const usageOf = async (requestId: string): Promise<UsageRecord> => {
  const deadline = Date.now() + 3000
  for (;;) {
    const record = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"msg":"usage"'))
      .map((line) => JSON.parse(line) as UsageRecord)
      .find((candidate) => candidate.requestId === requestId)
    if (record) return record
    if (Date.now() > deadline) throw new Error(`no usage record for ${requestId}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const post = (path: string, body: Record<string, unknown>) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

const chat = (model: string) => ({
  model,
  stream: true,
  max_tokens: 64,
  messages: [{ role: 'user', content: 'tell me a long story' }],
})

beforeAll(async () => {
  ;[openai, backup, claude, slowOpenAI, slowClaude] = await Promise.all([
    startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY, streamChunks: 6 }),
    startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY }),
    startMockAnthropicUpstream({ apiKey: MOCK_ANTHROPIC_API_KEY, streamChunks: 6 }),
    startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY, streamChunks: 20, chunkDelayMs: 50 }),
    startMockAnthropicUpstream({
      apiKey: MOCK_ANTHROPIC_API_KEY,
      streamChunks: 20,
      chunkDelayMs: 50,
    }),
  ])
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-stream-ends-'))
  writeFileSync(
    join(cwd, 'gatehouse.yaml'),
    `
auth: { masterKey: ${masterKey} }
providers:
  oa: { type: openai-compatible, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${openai.baseUrl}", discoverModels: false }
  backup: { type: openai-compatible, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${backup.baseUrl}", discoverModels: false }
  ant: { type: anthropic, apiKey: ${MOCK_ANTHROPIC_API_KEY}, baseUrl: "${claude.baseUrl}", discoverModels: false }
  slowoa: { type: openai-compatible, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${slowOpenAI.baseUrl}", discoverModels: false }
  slowant: { type: anthropic, apiKey: ${MOCK_ANTHROPIC_API_KEY}, baseUrl: "${slowClaude.baseUrl}", discoverModels: false }
routes:
  - name: guarded
    targets: [{ provider: oa, model: gpt-4.1 }, { provider: backup, model: gpt-4.1 }]
defaultProvider: { openai: oa, anthropic: ant }
retry: { maxRetries: 0 }
circuitBreaker: { minFailures: 2, failureRatio: 0.5, openMs: 60000 }
`
  )
  server = await startNodeServer({
    env: { GATEHOUSE_CONFIG: 'gatehouse.yaml', PORT: '0', USAGE_LOG: 'true', LOG_LEVEL: 'info' },
    cwd,
    stdout: (line) => lines.push(line),
  })
})

afterAll(async () => {
  await server?.close()
  await Promise.all([openai, backup, claude, slowOpenAI, slowClaude].map((mock) => mock?.close()))
})

describe('a forwarded stream the upstream stops short of its end', () => {
  it('OpenAI: ends with an error chunk the SDK raises, recorded as failed', async () => {
    openai.enqueue({ endAfterChunks: 3 })
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: masterKey, maxRetries: 0 })
    const { data: stream, response } = await client.chat.completions
      .create(chat('oa/gpt-4o-mini') as never)
      .withResponse()
    const received: unknown[] = []
    const error = await (async () => {
      for await (const chunk of stream as unknown as AsyncIterable<unknown>) received.push(chunk)
    })().catch((caught: unknown) => caught)
    expect(received.length).toBeGreaterThan(0)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect(String((error as Error).message)).toMatch(/closed the stream before it finished/)
    const record = await usageOf(response.headers.get('x-request-id')!)
    expect(record).toMatchObject({ status: 200, clientAborted: false })
    expect(record.error).toMatch(/closed the stream before it finished/)
  })

  it('Anthropic: ends with event: error, which the SDK raises as an API error', async () => {
    claude.enqueue({ endAfterChunks: 3 })
    const response = await post('/v1/messages', chat('claude-sonnet-4-6'))
    const text = await response.text()
    expect(text).toMatch(/event: error\ndata: \{"type":"error","error":\{"type":"api_error"/)
    expect(text).not.toContain('message_stop')
    const record = await usageOf(response.headers.get('x-request-id')!)
    expect(record.error).toMatch(/closed the stream before it finished/)

    claude.enqueue({ endAfterChunks: 3 })
    const client = new Anthropic({ baseURL: server.url, apiKey: masterKey, maxRetries: 0 })
    const failure = await client.messages
      .stream(chat('claude-sonnet-4-6') as never)
      .finalMessage()
      .catch((caught: unknown) => caught)
    expect(failure).toBeInstanceOf(Anthropic.APIError)
  })

  it('counts for the circuit breaker: after two, the route goes to its next target at once', async () => {
    openai.enqueue({ endAfterChunks: 2 }, { endAfterChunks: 2 })
    for (let index = 0; index < 2; index += 1) {
      const response = await post('/v1/chat/completions', chat('guarded'))
      expect(response.headers.get('x-gatehouse-provider')).toBe('oa')
      await response.text()
    }
    const calls = openai.requests.length
    const response = await post('/v1/chat/completions', chat('guarded'))
    expect(response.headers.get('x-gatehouse-provider')).toBe('backup')
    expect(await response.text()).toContain('[DONE]')
    expect(openai.requests.length).toBe(calls)
  })
})

describe('a forwarded stream whose upstream reported its own failure in-band', () => {
  it('reaches the client as the upstream sent it, once, and is recorded as failed', async () => {
    claude.enqueue({
      inBandError: true,
      afterChunks: 2,
      error: { type: 'overloaded_error', message: 'Overloaded right now' },
    })
    const response = await post('/v1/messages', chat('claude-sonnet-4-6'))
    const text = await response.text()
    expect(text.match(/event: error/g)).toHaveLength(1)
    expect(text).toContain('Overloaded right now')
    const record = await usageOf(response.headers.get('x-request-id')!)
    expect(record).toMatchObject({
      status: 200,
      clientAborted: false,
      error: 'Overloaded right now',
    })
  })
})

describe('a client that leaves a converted stream', () => {
  const leave = async (path: string, model: string): Promise<UsageRecord> => {
    const response = await post(path, chat(model))
    const reader = response.body!.getReader()
    await reader.read()
    await reader.cancel()
    return usageOf(response.headers.get('x-request-id')!)
  }

  it('is recorded as client_aborted, not as an internal error, in both directions', async () => {
    for (const [path, model] of [
      ['/v1/chat/completions', 'slowant/claude-sonnet-4-6'],
      ['/v1/messages', 'slowoa/gpt-4o-mini'],
    ]) {
      const record = await leave(path, model)
      expect(record).toMatchObject({ clientAborted: true, error: 'The client closed the request.' })
    }
  })

  it("records an Anthropic stream left before message_delta with its output estimated from what passed, not message_start's 1", async () => {
    // Forwarded (Messages to Messages) and converted (Chat Completions from Messages).
    for (const path of ['/v1/messages', '/v1/chat/completions']) {
      const record = await leave(path, 'slowant/claude-sonnet-4-6')
      expect(record).toMatchObject({ clientAborted: true, estimated: true })
      // The input is message_start's, as reported; the output what passed before the client left (a delta or two).
      expect(record.usage?.inputTokens).toBeGreaterThan(0)
      expect(record.usage?.outputTokens).toBeGreaterThanOrEqual(0)
      expect(record.usage?.outputTokens).toBeLessThan(10)
    }
  })

  it('records a forwarded OpenAI stream the client left with its output estimated from the chunks that passed', async () => {
    const response = await post('/v1/chat/completions', chat('slowoa/gpt-4o-mini'))
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    // The role chunk and two content chunks.
    while ((text.match(/^data: /gm) ?? []).length < 3) {
      const { value, done } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    await reader.cancel()
    const record = await usageOf(response.headers.get('x-request-id')!)
    expect(record).toMatchObject({ clientAborted: true, estimated: true })
    // The master key's request was never estimated (admission does that for a tenant key): its input stays unknown,
    // and with it the cost.
    expect(record.usage?.inputTokens).toBeNull()
    expect(record.costMicroUsd).toBeNull()
    // One token a content chunk: at least the two read, and no more than the gateway forwarded before the cancel.
    expect(record.usage?.outputTokens).toBeGreaterThanOrEqual(2)
    expect(record.usage?.outputTokens).toBeLessThanOrEqual(4)
  })
})

describe('a client that leaves while it sends its body', () => {
  /** Sends `head` and `body` on a raw connection, then closes it; the record the gateway writes for it. */
  const leaveMidBody = async (head: string[], body: string): Promise<UsageRecord> => {
    const requestId = `mid-body-${Math.random().toString(36).slice(2)}`
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1')
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    socket.write(
      [
        'POST /v1/chat/completions HTTP/1.1',
        'host: 127.0.0.1',
        `authorization: Bearer ${masterKey}`,
        'content-type: application/json',
        `x-request-id: ${requestId}`,
        ...head,
        '',
        body,
      ].join('\r\n')
    )
    await new Promise((resolve) => setTimeout(resolve, 100))
    socket.destroy()
    return usageOf(requestId)
  }

  it('is recorded as client_aborted (499), chunked or with a length, and logged as no failure of the gateway', async () => {
    const chunked = await leaveMidBody(['transfer-encoding: chunked'], '10\r\n{"model":"oa/gpt-')
    const short = await leaveMidBody(['content-length: 200'], '{"model":"oa/gpt-4o-mini",')
    for (const record of [chunked, short])
      expect(record).toMatchObject({
        status: 499,
        clientAborted: true,
        error: 'The client closed the request before its body was sent.',
      })
    const failures = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"level":"error"'))
    expect(failures).toEqual([])
  })
})
