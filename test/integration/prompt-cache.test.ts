/**
 * The prompt cache through the real Node server, against the mock upstreams: what is stored and replayed (streamed
 * and not, either way round, in both client protocols), under which key (reordered bodies, tenants, shared routes,
 * namespaces), what a request's headers change, what is never stored (errors, broken streams, excluded finish
 * reasons, non-deterministic requests), the usage events of hits, and single-flight: 1,000 identical requests at once
 * make one upstream call, streamed and not.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'
import {
  MOCK_ANTHROPIC_API_KEY,
  startMockAnthropicUpstream,
} from '../helpers/mock-anthropic-upstream.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'

const masterKey = 'gh-cache-master-key'
let openai: MockUpstream
let anthropic: MockUpstream
let server: NodeServer
let cwd: string
const lines: string[] = []

let counter = 0
/** A prompt no other case sends: the gateway's cache lives as long as the suite. */
const unique = (label: string): string => `${label} #${(counter += 1)} ${Date.now()}`

type Reply = { status: number; headers: Headers; text: string; json: () => Record<string, unknown> }

const post = async (
  path: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  key = masterKey
): Promise<Reply> => {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      ...(path.startsWith('/v1/messages') ? { 'anthropic-version': '2023-06-01' } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  }
}

const chat = (content: string, more: Record<string, unknown> = {}) => ({
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user', content }],
  ...more,
})

const chatCalls = (): number =>
  openai.requests.filter((request) => request.path === '/v1/chat/completions').length

const messagesCalls = (): number =>
  anthropic.requests.filter((request) => request.path === '/v1/messages').length

/** The `data:` payloads of an OpenAI stream, `[DONE]` included. */
const dataLines = (text: string): string[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice(6))

const streamedText = (text: string): string =>
  dataLines(text)
    .filter((data) => data !== '[DONE]')
    .map((data) => JSON.parse(data) as { choices: { delta?: { content?: string } }[] })
    .map((chunk) => chunk.choices[0]?.delta?.content ?? '')
    .join('')

/** Anthropic's event names, in order. */
const eventNames = (text: string): string[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('event: '))
    .map((line) => line.slice(7))

const usageRecords = (): Record<string, unknown>[] =>
  lines
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"msg":"usage"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)

const usageOf = async (requestId: string): Promise<Record<string, unknown>> => {
  const deadline = Date.now() + 3_000
  for (;;) {
    const record = usageRecords().find((candidate) => candidate.requestId === requestId)
    if (record) return record
    if (Date.now() > deadline) throw new Error(`no usage record for ${requestId}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Waits until the gateway has written the answer behind `request` (stores are written after the response). */
const stored = async (send: () => Promise<Reply>): Promise<Reply> => {
  const deadline = Date.now() + 3_000
  for (;;) {
    const reply = await send()
    if (reply.headers.get('x-gatehouse-cache') === 'hit') return reply
    if (Date.now() > deadline) throw new Error('the answer was never stored')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const createTenantKey = async (tenant: string): Promise<string> => {
  const admin = async (path: string, body: Record<string, unknown>) => {
    const response = await fetch(`${server.url}/admin/v1/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    expect(response.status).toBe(201)
    return (await response.json()) as Record<string, unknown>
  }
  await admin('tenants', { name: tenant })
  return String((await admin('keys', { tenant, name: 'app' })).key)
}

beforeAll(async () => {
  ;[openai, anthropic] = await Promise.all([
    startMockOpenAIUpstream({ streamChunks: 5 }),
    startMockAnthropicUpstream({ streamChunks: 5 }),
  ])
  cwd = mkdtempSync(join(tmpdir(), 'gatehouse-cache-'))
  const target = '[{ provider: openai, model: gpt-4o-mini }]'
  writeFileSync(
    join(cwd, 'gatehouse.yaml'),
    [
      'retry: { maxRetries: 0 }',
      'cache:',
      '  enabled: true',
      '  ttlSeconds: 600',
      'routes:',
      `  - { name: shared, targets: ${target}, cache: { shareAcrossTenants: true } }`,
      `  - { name: no-length, targets: ${target}, cache: { excludeFinishReasons: [length] } }`,
      `  - { name: uncached, targets: ${target}, cache: { enabled: false } }`,
      `  - { name: creative, targets: ${target}, cache: { nonDeterministic: true } }`,
      `  - { name: short-idle, targets: ${target}, timeouts: { idleMs: 400 } }`,
      '',
    ].join('\n')
  )
  server = await startNodeServer({
    env: {
      OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
      OPENAI_BASE_URL: openai.baseUrl,
      ANTHROPIC_API_KEY: MOCK_ANTHROPIC_API_KEY,
      ANTHROPIC_BASE_URL: anthropic.baseUrl,
      GATEHOUSE_MASTER_KEY: masterKey,
      GATEHOUSE_CONFIG: 'gatehouse.yaml',
      PORT: '0',
      USAGE_LOG: 'true',
    },
    cwd,
    stdout: (line) => lines.push(line),
  })
})

afterAll(async () => {
  await server?.close()
  await Promise.all([openai?.close(), anthropic?.close()])
  if (cwd) rmSync(cwd, { recursive: true, force: true })
})

describe('prompt cache: Chat Completions', () => {
  it('answers a repeated request from the cache: miss, then hit with its age and the same key and answer', async () => {
    const body = chat(unique('repeat me'))
    const first = await post('/v1/chat/completions', body)
    expect(first.status).toBe(200)
    expect(first.headers.get('x-gatehouse-cache')).toBe('miss')
    const key = first.headers.get('x-gatehouse-cache-key')
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    expect(first.headers.get('age')).toBeNull()
    const before = chatCalls()
    const second = await stored(() => post('/v1/chat/completions', body))
    expect(chatCalls()).toBe(before)
    expect(second.headers.get('x-gatehouse-cache-key')).toBe(key)
    expect(second.headers.get('age')).toBe('0')
    expect(second.headers.get('x-gatehouse-provider')).toBe('openai')
    expect(second.headers.get('x-gatehouse-model')).toBe('gpt-4o-mini')
    expect(second.headers.get('x-gatehouse-attempts')).toBe('0')
    const [a, b] = [first.json(), second.json()]
    expect(b.id).toBe(a.id)
    expect(b.choices).toEqual(a.choices)
    expect(b.usage).toEqual(a.usage)
  })

  it('hits for the same request however it is serialised, and for stream / user / metadata changes', async () => {
    const content = unique('reorder')
    const first = await post(
      '/v1/chat/completions',
      chat(content, { temperature: 0, max_completion_tokens: 64 })
    )
    expect(first.headers.get('x-gatehouse-cache')).toBe('miss')
    const reordered = {
      max_completion_tokens: 64,
      user: 'someone',
      metadata: { run: '7' },
      n: 1,
      messages: [{ content, role: 'user' }],
      temperature: 0.0,
      model: 'openai/gpt-4o-mini',
    }
    const again = await stored(() => post('/v1/chat/completions', reordered))
    expect(again.headers.get('x-gatehouse-cache-key')).toBe(
      first.headers.get('x-gatehouse-cache-key')
    )
  })

  it('serves a streamed answer to a non-streamed request and a non-streamed one to a streamed request', async () => {
    const content = unique('both ways')
    const streamed = await post('/v1/chat/completions', chat(content, { stream: true }))
    expect(streamed.headers.get('x-gatehouse-cache')).toBe('miss')
    const before = chatCalls()
    const whole = await stored(() => post('/v1/chat/completions', chat(content)))
    const message = (whole.json().choices as { message: { content: string } }[])[0].message
    expect(message.content).toBe(streamedText(streamed.text))
    expect(message.content).toBe(`echo: ${content}`)

    const other = unique('the other way')
    const plain = await post('/v1/chat/completions', chat(other))
    expect(plain.headers.get('x-gatehouse-cache')).toBe('miss')
    const replay = await stored(() =>
      post(
        '/v1/chat/completions',
        chat(other, { stream: true, stream_options: { include_usage: true } })
      )
    )
    expect(replay.headers.get('content-type')).toContain('text/event-stream')
    const data = dataLines(replay.text)
    expect(data.at(-1)).toBe('[DONE]')
    const chunks = data.slice(0, -1).map((line) => JSON.parse(line) as Record<string, unknown>)
    expect((chunks[0].choices as { delta: { role?: string } }[])[0].delta.role).toBe('assistant')
    expect(streamedText(replay.text)).toBe(`echo: ${other}`)
    const finish = chunks.find(
      (chunk) => (chunk.choices as { finish_reason?: string }[])[0]?.finish_reason
    )
    expect((finish!.choices as { finish_reason: string }[])[0].finish_reason).toBe('stop')
    const last = chunks.at(-1)!
    expect(last.choices).toEqual([])
    expect(last.usage).toEqual(plain.json().usage)
    expect(chatCalls()).toBe(before + 1)
  })

  it('replays tool calls, streamed and not', async () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ]
    const body = chat(`${unique('weather')} use tool`, { tools })
    const first = await post('/v1/chat/completions', { ...body, stream: true })
    expect(first.status).toBe(200)
    const whole = await stored(() => post('/v1/chat/completions', body))
    const choice = (whole.json().choices as Record<string, unknown>[])[0]
    expect(choice.finish_reason).toBe('tool_calls')
    const calls = (choice.message as { tool_calls: { function: { name: string } }[] }).tool_calls
    expect(calls.map((call) => call.function.name)).toEqual(['get_weather'])
    const replay = await post('/v1/chat/completions', { ...body, stream: true })
    expect(replay.headers.get('x-gatehouse-cache')).toBe('hit')
    const deltas = dataLines(replay.text)
      .filter((data) => data !== '[DONE]')
      .map((data) => JSON.parse(data) as { choices: { delta: { tool_calls?: unknown[] } }[] })
      .flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
    expect(deltas[0]).toMatchObject({
      index: 0,
      type: 'function',
      function: { name: 'get_weather' },
    })
    expect(
      deltas
        .map((delta) => (delta as { function: { arguments?: string } }).function.arguments ?? '')
        .join('')
    ).toBe((calls[0] as unknown as { function: { arguments: string } }).function.arguments)
  })

  it('follows Cache-Control: no-cache reads nothing but stores; no-store does neither; max-age bounds the age', async () => {
    const body = chat(unique('controls'))
    await post('/v1/chat/completions', body)
    await stored(() => post('/v1/chat/completions', body))
    let before = chatCalls()
    const fresh = await post('/v1/chat/completions', body, { 'cache-control': 'no-cache' })
    expect(fresh.headers.get('x-gatehouse-cache')).toBe('bypass')
    expect(fresh.headers.get('x-gatehouse-cache-key')).toMatch(/^[0-9a-f]{64}$/)
    expect(chatCalls()).toBe(before + 1)
    // The new answer replaced the old one: its age starts again.
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const aged = await post('/v1/chat/completions', body)
    expect(aged.headers.get('x-gatehouse-cache')).toBe('hit')
    expect(Number(aged.headers.get('age'))).toBeGreaterThanOrEqual(1)
    expect(aged.json().id).toBe(fresh.json().id)
    before = chatCalls()
    const tooOld = await post('/v1/chat/completions', body, { 'cache-control': 'max-age=0' })
    expect(tooOld.headers.get('x-gatehouse-cache')).toBe('miss')
    expect(chatCalls()).toBe(before + 1)

    const secret = chat(unique('no store'))
    const bypass = await post('/v1/chat/completions', secret, { 'cache-control': 'no-store' })
    expect(bypass.headers.get('x-gatehouse-cache')).toBe('bypass')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await post('/v1/chat/completions', secret)).headers.get('x-gatehouse-cache')).toBe(
      'miss'
    )
  })

  it('keeps an answer as long as x-gatehouse-cache-ttl says, and refuses a malformed one with a 400', async () => {
    const body = chat(unique('short-lived'))
    await post('/v1/chat/completions', body, { 'x-gatehouse-cache-ttl': '1' })
    await stored(() => post('/v1/chat/completions', body))
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    expect((await post('/v1/chat/completions', body)).headers.get('x-gatehouse-cache')).toBe('miss')
    const bad = await post('/v1/chat/completions', body, { 'x-gatehouse-cache-ttl': 'soon' })
    expect(bad.status).toBe(400)
    expect(bad.json()).toMatchObject({ error: { param: 'x-gatehouse-cache-ttl' } })
  })

  it('stores no error, no stream that broke off, and no finish reason the route excludes', async () => {
    const failing = chat(unique('fails'))
    openai.enqueue({ status: 400 })
    const refused = await post('/v1/chat/completions', failing)
    expect(refused.status).toBe(400)
    // A failed miss still says what the cache did.
    expect(refused.headers.get('x-gatehouse-cache')).toBe('miss')
    expect(refused.headers.get('x-gatehouse-cache-key')).toMatch(/./)
    const after = await post('/v1/chat/completions', failing)
    expect(after.status).toBe(200)
    expect(after.headers.get('x-gatehouse-cache')).toBe('miss')

    const broken = chat(unique('breaks'), { stream: true })
    openai.enqueue({ dropAfterChunks: 2 })
    await post('/v1/chat/completions', broken)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await post('/v1/chat/completions', broken)).headers.get('x-gatehouse-cache')).toBe(
      'miss'
    )

    const long = { ...chat(unique('a long answer that the bound cuts')), max_tokens: 2 }
    const cut = await post('/v1/chat/completions', { ...long, model: 'no-length' })
    expect((cut.json().choices as { finish_reason: string }[])[0].finish_reason).toBe('length')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(
      (await post('/v1/chat/completions', { ...long, model: 'no-length' })).headers.get(
        'x-gatehouse-cache'
      )
    ).toBe('miss')
    // Elsewhere a cut answer is an answer like any other.
    await post('/v1/chat/completions', long)
    await stored(() => post('/v1/chat/completions', long))
  })

  it('bypasses n > 1 and temperatures above the threshold, unless the route caches them', async () => {
    const body = chat(unique('creative'), { temperature: 1.4 })
    const hot = await post('/v1/chat/completions', body)
    expect(hot.headers.get('x-gatehouse-cache')).toBe('bypass')
    expect(hot.headers.get('x-gatehouse-cache-key')).toBeNull()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await post('/v1/chat/completions', body)).headers.get('x-gatehouse-cache')).toBe(
      'bypass'
    )
    await post('/v1/chat/completions', { ...body, model: 'creative' })
    await stored(() => post('/v1/chat/completions', { ...body, model: 'creative' }))
  })

  it('says nothing on a route whose cache is off', async () => {
    const body = { ...chat(unique('off')), model: 'uncached' }
    const reply = await post('/v1/chat/completions', body)
    expect(reply.status).toBe(200)
    expect(reply.headers.get('x-gatehouse-cache')).toBeNull()
    expect(reply.headers.get('x-gatehouse-cache-key')).toBeNull()
  })

  it('never answers one tenant from another’s cache, unless the route shares; a namespace narrows it', async () => {
    const [acme, beta] = await Promise.all([createTenantKey('acme'), createTenantKey('beta')])
    const body = chat(unique('tenants'))
    await post('/v1/chat/completions', body, {}, acme)
    await stored(() => post('/v1/chat/completions', body, {}, acme))
    const other = await post('/v1/chat/completions', body, {}, beta)
    expect(other.headers.get('x-gatehouse-cache')).toBe('miss')
    const master = await post('/v1/chat/completions', body)
    expect(master.headers.get('x-gatehouse-cache')).toBe('miss')

    const shared = { ...chat(unique('shared')), model: 'shared' }
    await post('/v1/chat/completions', shared, {}, acme)
    await stored(() => post('/v1/chat/completions', shared, {}, beta))

    const named = await post(
      '/v1/chat/completions',
      body,
      { 'x-gatehouse-cache-namespace': 'eval-7' },
      acme
    )
    expect(named.headers.get('x-gatehouse-cache')).toBe('miss')
    await stored(() =>
      post('/v1/chat/completions', body, { 'x-gatehouse-cache-namespace': 'eval-7' }, acme)
    )
  })

  it('records a hit as a usage event with cache: hit, no tokens, no cost, and the cost it saved', async () => {
    const body = chat(unique('accounting'))
    const miss = await post('/v1/chat/completions', body)
    const hit = await stored(() => post('/v1/chat/completions', body))
    const missed = await usageOf(miss.headers.get('x-request-id')!)
    const saved = await usageOf(hit.headers.get('x-request-id')!)
    expect(missed).toMatchObject({ cache: 'miss', savedCostMicroUsd: null })
    expect(missed.costMicroUsd).toBeGreaterThan(0)
    expect(saved).toMatchObject({
      cache: 'hit',
      provider: 'openai',
      model: 'gpt-4o-mini',
      status: 200,
      attempts: 0,
      costMicroUsd: 0,
      savedCostMicroUsd: missed.costMicroUsd,
      usage: { inputTokens: 0, outputTokens: 0 },
    })
  })
})

describe('prompt cache: Messages', () => {
  const message = (content: string, more: Record<string, unknown> = {}) => ({
    model: 'anthropic/claude-sonnet-4-5',
    max_tokens: 256,
    messages: [{ role: 'user', content }],
    ...more,
  })

  it('replays a stored answer as Anthropic’s event sequence, and a streamed one as a message', async () => {
    const content = unique('claude')
    const first = await post('/v1/messages', message(content))
    expect(first.headers.get('x-gatehouse-cache')).toBe('miss')
    const before = messagesCalls()
    const replay = await stored(() => post('/v1/messages', message(content, { stream: true })))
    expect(messagesCalls()).toBe(before)
    expect(eventNames(replay.text)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    expect(replay.text).toContain(JSON.stringify(`echo: ${content}`).slice(1, -1))

    const other = unique('claude streamed')
    await post('/v1/messages', message(other, { stream: true }))
    const whole = await stored(() => post('/v1/messages', message(other)))
    expect(whole.json()).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: `echo: ${other}` }],
      stop_reason: 'end_turn',
    })
  })

  it('sends every hit of an answer converted from an OpenAI model the same message, its made-up id included', async () => {
    const content = unique('claude from openai')
    const body = message(content, { model: 'openai/gpt-4o-mini' })
    const miss = await post('/v1/messages', body)
    expect(miss.headers.get('x-gatehouse-cache')).toBe('miss')
    const first = await stored(() => post('/v1/messages', body))
    const second = await post('/v1/messages', body)
    expect(second.headers.get('x-gatehouse-cache')).toBe('hit')
    expect(first.json()).toMatchObject({
      type: 'message',
      id: expect.stringMatching(/^msg_/),
      content: [{ type: 'text', text: `echo: ${content}` }],
    })
    expect(second.text).toBe(first.text)
  })

  it('does not cache token counts', async () => {
    const reply = await post('/v1/messages/count_tokens', {
      model: 'anthropic/claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'count me' }],
    })
    expect(reply.status).toBe(200)
    expect(reply.headers.get('x-gatehouse-cache')).toBeNull()
  })
})

describe('prompt cache: single-flight', () => {
  const concurrent = 1_000

  for (const stream of [false, true]) {
    it(`answers ${concurrent} identical ${stream ? 'streamed' : 'non-streamed'} requests sent at once with one upstream call`, async () => {
      const body = chat(unique(`flight ${stream}`), stream ? { stream: true } : {})
      const before = chatCalls()
      // The leader's upstream answer takes a while, so that every other request finds it in flight.
      openai.enqueue({ delayFirstByteMs: 500 })
      const replies = await Promise.all(
        Array.from({ length: concurrent }, () => post('/v1/chat/completions', body))
      )
      expect(chatCalls()).toBe(before + 1)
      expect(replies.map((reply) => reply.status)).toEqual(replies.map(() => 200))
      const statuses = replies.map((reply) => reply.headers.get('x-gatehouse-cache'))
      expect(statuses.filter((status) => status === 'miss')).toHaveLength(1)
      expect(statuses.filter((status) => status === 'hit')).toHaveLength(concurrent - 1)
      const texts = new Set(
        replies.map((reply) =>
          stream
            ? streamedText(reply.text)
            : (reply.json().choices as { message: { content: string } }[])[0].message.content
        )
      )
      expect([...texts]).toEqual([`echo: ${body.messages[0].content}`])
    }, 60_000)
  }
})

describe('prompt cache: a leader that breaks off', () => {
  it('sends streamed followers upstream themselves: their streams go on where the leader broke off, with no error', async () => {
    const body = chat(unique('a leader that stalls'), { model: 'short-idle', stream: true })
    const before = chatCalls()
    // The leader's stream stalls after two events; the route's idle timeout then breaks it off.
    openai.enqueue({ stallAfterChunks: 2 })
    const leader = post('/v1/chat/completions', body)
    await new Promise((resolve) => setTimeout(resolve, 150))
    const followers = await Promise.all(
      Array.from({ length: 3 }, () => post('/v1/chat/completions', body))
    )
    const led = await leader
    expect(led.text).toContain('error')
    for (const follower of followers) {
      expect(follower.status).toBe(200)
      expect(follower.headers.get('x-gatehouse-cache')).toBe('hit')
      expect(follower.text).not.toContain('"error"')
      expect(streamedText(follower.text)).toBe(`echo: ${body.messages[0].content}`)
      expect(dataLines(follower.text).at(-1)).toBe('[DONE]')
      // It paid for its own call.
      const record = await usageOf(follower.headers.get('x-request-id')!)
      expect(record).toMatchObject({ cache: 'miss', provider: 'openai', status: 200 })
      expect(record.costMicroUsd).toBeGreaterThan(0)
    }
    // The leader's call, then one each for the followers (not streamed).
    const calls = openai.requests.filter((request) => request.path === '/v1/chat/completions')
    expect(calls.length).toBe(before + 4)
    expect(calls.slice(-3).map((request) => (request.body as { stream?: boolean }).stream)).toEqual(
      [false, false, false]
    )
  })
})

describe('prompt cache: embeddings', () => {
  const embeddingsCalls = (): number =>
    openai.requests.filter((request) => request.path === '/v1/embeddings').length

  it('replays the upstream’s body byte for byte, keyed by input and encoding, and records what a hit saved', async () => {
    // Long enough to cost a few micro-dollars at $0.02 per million tokens.
    const body = {
      model: 'openai/text-embedding-3-small',
      input: [unique('embed'), 'word '.repeat(2000)],
    }
    const before = embeddingsCalls()
    const miss = await post('/v1/embeddings', body)
    expect(miss.status).toBe(200)
    expect(miss.headers.get('x-gatehouse-cache')).toBe('miss')
    const hit = await stored(() => post('/v1/embeddings', { ...body, encoding_format: 'float' }))
    expect(hit.text).toBe(miss.text)
    expect(hit.headers.get('content-type')).toMatch(/^application\/json/)
    expect(hit.headers.get('x-gatehouse-cache-key')).toBe(miss.headers.get('x-gatehouse-cache-key'))
    expect(embeddingsCalls()).toBe(before + 1)
    const missed = await usageOf(miss.headers.get('x-request-id')!)
    expect(missed.costMicroUsd).toBeGreaterThan(0)
    expect(await usageOf(hit.headers.get('x-request-id')!)).toMatchObject({
      cache: 'hit',
      provider: 'openai',
      costMicroUsd: 0,
      savedCostMicroUsd: missed.costMicroUsd,
      usage: { inputTokens: 0, outputTokens: 0 },
    })

    // base64 is another answer: its own key, its own upstream call, then its own hits.
    const base64 = await post('/v1/embeddings', { ...body, encoding_format: 'base64' })
    expect(base64.headers.get('x-gatehouse-cache')).toBe('miss')
    const item = (base64.json().data as { embedding: unknown }[])[0]
    expect(typeof item.embedding).toBe('string')
    const again = await stored(() => post('/v1/embeddings', { ...body, encoding_format: 'base64' }))
    expect(again.text).toBe(base64.text)
    expect(embeddingsCalls()).toBe(before + 2)
  })

  it('does not store an embeddings error', async () => {
    const body = { model: 'openai/text-embedding-3-small', input: unique('embed error') }
    openai.enqueue({ status: 500 })
    expect((await post('/v1/embeddings', body)).status).toBeGreaterThanOrEqual(500)
    const next = await post('/v1/embeddings', body)
    expect(next.status).toBe(200)
    expect(next.headers.get('x-gatehouse-cache')).toBe('miss')
  })
})

describe('prompt cache: Responses API', () => {
  const responsesCalls = (): number =>
    openai.requests.filter((request) => request.path === '/v1/responses').length

  /** The events of a Responses stream, by `type`, with their payloads. */
  const responsesEvents = (text: string): Record<string, unknown>[] =>
    dataLines(text).map((data) => JSON.parse(data) as Record<string, unknown>)

  const outputText = (response: Record<string, unknown>): string =>
    (response.output as { type: string; content?: { type: string; text: string }[] }[])
      .filter((item) => item.type === 'message')
      .flatMap((item) => item.content ?? [])
      .map((part) => part.text)
      .join('')

  it('answers a repeated forwarded request from the cache, streamed and not, each with a response id of its own', async () => {
    const body = { model: 'openai/gpt-4o-mini', input: unique('responses'), store: false }
    const before = responsesCalls()
    const miss = await post('/v1/responses', body)
    expect(miss.status).toBe(200)
    expect(miss.headers.get('x-gatehouse-cache')).toBe('miss')
    const hit = await stored(() => post('/v1/responses', body))
    const first = miss.json()
    const replayed = hit.json()
    expect(replayed.object).toBe('response')
    expect(replayed.status).toBe('completed')
    expect(outputText(replayed)).toBe(outputText(first))
    expect(replayed.id).not.toBe(first.id)
    expect(replayed.store).toBe(false)

    const streamed = await post('/v1/responses', { ...body, stream: true })
    expect(streamed.headers.get('x-gatehouse-cache')).toBe('hit')
    const events = responsesEvents(streamed.text)
    expect(events[0].type).toBe('response.created')
    expect(events.at(-1)!.type).toBe('response.completed')
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index))
    const completed = events.at(-1)!.response as Record<string, unknown>
    expect(outputText(completed)).toBe(outputText(first))
    expect(responsesCalls()).toBe(before + 1)
  })

  it('serves a non-streamed request from an answer that was streamed', async () => {
    const body = { model: 'openai/gpt-4o-mini', input: unique('responses stream'), store: false }
    const miss = await post('/v1/responses', { ...body, stream: true })
    expect(miss.headers.get('x-gatehouse-cache')).toBe('miss')
    const completed = responsesEvents(miss.text).at(-1)!.response as Record<string, unknown>
    const hit = await stored(() => post('/v1/responses', body))
    expect(outputText(hit.json())).toBe(outputText(completed))
  })

  it('keeps a stored hit: it can be retrieved and continued with previous_response_id', async () => {
    const body = { model: 'openai/gpt-4o-mini', input: unique('responses store') }
    await post('/v1/responses', body)
    const hit = await stored(() => post('/v1/responses', body))
    const id = String(hit.json().id)
    expect(hit.json().store).toBe(true)
    const retrieved = await fetch(`${server.url}/v1/responses/${id}`, {
      headers: { authorization: `Bearer ${masterKey}` },
    })
    expect(retrieved.status).toBe(200)
    expect(((await retrieved.json()) as { id: string }).id).toBe(id)
    const before = responsesCalls()
    const next = await post('/v1/responses', {
      model: 'openai/gpt-4o-mini',
      input: 'and then?',
      previous_response_id: id,
    })
    expect(next.status).toBe(200)
    // The upstream never saw previous_response_id (the gateway expanded the chain), yet the answer echoes it, and so
    // does a retrieve of that response later, which its provider answers.
    expect(next.json().previous_response_id).toBe(id)
    const retrievedNext = await fetch(`${server.url}/v1/responses/${String(next.json().id)}`, {
      headers: { authorization: `Bearer ${masterKey}` },
    })
    expect(retrievedNext.status).toBe(200)
    expect(retrievedNext.headers.get('x-gatehouse-provider')).toBe('openai')
    expect(((await retrievedNext.json()) as Record<string, unknown>).previous_response_id).toBe(id)
    const streamedNext = await post('/v1/responses', {
      model: 'openai/gpt-4o-mini',
      input: 'and streamed?',
      previous_response_id: id,
      stream: true,
    })
    const echoed = responsesEvents(streamedNext.text)
      .filter((event) => typeof event.response === 'object')
      .map((event) => (event.response as { previous_response_id: unknown }).previous_response_id)
    expect(echoed.length).toBeGreaterThanOrEqual(3)
    expect(new Set(echoed)).toEqual(new Set([id]))
    // The chain went upstream with the cached answer expanded into its input.
    const sent = openai.requests.filter((request) => request.path === '/v1/responses')
    expect(sent.length).toBe(before + 2)
    expect(sent.at(-2)!.body).not.toHaveProperty('previous_response_id')
    const input = JSON.stringify((sent.at(-2)!.body as { input: unknown }).input)
    expect(input).toContain(body.input)
    expect(input).toContain('and then?')
  })

  it('bypasses what it could not replay: hosted tools, background runs', async () => {
    const body = { model: 'openai/gpt-4o-mini', input: unique('responses tools'), store: false }
    const withTool = await post('/v1/responses', { ...body, tools: [{ type: 'web_search' }] })
    expect(withTool.headers.get('x-gatehouse-cache')).toBe('bypass')
    expect(withTool.headers.get('x-gatehouse-cache-key')).toBeNull()
  })

  it('caches a Responses request converted to Anthropic, and replays it as Responses events', async () => {
    const body = {
      model: 'anthropic/claude-sonnet-4-5',
      input: unique('responses to anthropic'),
      max_output_tokens: 100,
      store: false,
    }
    const before = messagesCalls()
    const miss = await post('/v1/responses', { ...body, stream: true })
    expect(miss.headers.get('x-gatehouse-cache')).toBe('miss')
    const hit = await stored(() => post('/v1/responses', body))
    const completed = responsesEvents(miss.text).at(-1)!.response as Record<string, unknown>
    expect(outputText(hit.json())).toBe(outputText(completed))
    expect(messagesCalls()).toBe(before + 1)
  })
})
