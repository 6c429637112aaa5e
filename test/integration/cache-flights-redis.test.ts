/**
 * Single-flight across gateway processes with the prompt cache in Redis (`cache.backend: redis`): identical requests
 * sent at once to two instances of a deployment make one upstream call, streamed or not; a streamed follower on the
 * other instance receives the leader's chunks as they arrive; a request waiting on the other instance's leader goes
 * upstream itself when that leader fails or when its wait (`cache.flightWaitMs`) runs out. Runs under CI=true (never skipped there), with a key prefix of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeServiceUrl } from '../contract/check-store-service.ts'
import {
  createRedisTestPrefix,
  type RedisTestPrefix,
} from '../contract/create-redis-test-prefix.ts'
import { requireStoreService } from '../contract/define-store-contract.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'gh-cache-flights-redis-master'
let upstream: MockUpstream

const config = (prefix: string): string[] => [
  'retry: { maxRetries: 0 }',
  'auth:',
  `  masterKey: ${masterKey}`,
  'providers:',
  '  openai:',
  '    type: openai',
  `    apiKey: ${MOCK_OPENAI_API_KEY}`,
  `    baseUrl: ${upstream.baseUrl}`,
  'redis:',
  `  url: ${storeServiceUrl('redis')}`,
  `  keyPrefix: "${prefix}"`,
  'cache:',
  '  enabled: true',
  '  backend: redis',
  '  flightWaitMs: 1500',
]

type Gateway = Awaited<ReturnType<typeof startTestGateway>>

const ask = async (gateway: Gateway, content: string, stream = false) => {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content }],
      stream,
    }),
  })
  const text = await response.text()
  return {
    status: response.status,
    cache: response.headers.get('x-gatehouse-cache'),
    text: stream
      ? text
          .split('\n')
          .filter((line) => line.startsWith('data: {'))
          .map(
            (line) =>
              (JSON.parse(line.slice(6)) as { choices: { delta?: { content?: string } }[] })
                .choices[0]?.delta?.content ?? ''
          )
          .join('')
      : (JSON.parse(text) as { choices: { message: { content: string } }[] }).choices[0].message
          .content,
  }
}

const chatCalls = (content: string): number =>
  upstream.requests.filter(
    (request) =>
      request.path === '/v1/chat/completions' && JSON.stringify(request.body).includes(content)
  ).length

beforeAll(async () => {
  // Streams of 5 chunks 80 ms apart: a follower can be seen to receive chunks before the leader's stream ends.
  upstream = await startMockOpenAIUpstream({ streamChunks: 5, chunkDelayMs: 80 })
})
afterAll(() => upstream?.close())

describe('prompt cache single-flight across processes (Redis)', () => {
  requireStoreService('redis')
  let prefix: RedisTestPrefix
  let first: Gateway
  let second: Gateway

  beforeAll(async () => {
    prefix = createRedisTestPrefix({ label: 'cache-flights' })
    first = await startTestGateway({ config: config(prefix.prefix) })
    second = await startTestGateway({ config: config(prefix.prefix) })
  })
  afterAll(async () => {
    await first?.close()
    await second?.close()
    await prefix?.cleanup()
  })

  for (const stream of [false, true])
    it(`answers identical ${stream ? 'streamed' : 'non-streamed'} requests on two instances with one upstream call`, async () => {
      const content = `flight across processes ${stream} ${Date.now()}`
      // The leader's answer takes a while, so that the other instance's requests find its lead.
      upstream.enqueue({ delayFirstByteMs: 400 })
      const leader = ask(first, content, stream)
      await new Promise((resolve) => setTimeout(resolve, 100))
      const others = await Promise.all([
        ask(second, content, stream),
        ask(second, content, stream),
        ask(first, content, stream),
      ])
      const all = [await leader, ...others]
      expect(chatCalls(content)).toBe(1)
      expect(all.map((reply) => reply.status)).toEqual([200, 200, 200, 200])
      // One miss (the leader: the first to claim, usually the first sent) and three hits.
      expect(all.map((reply) => reply.cache).sort()).toEqual(['hit', 'hit', 'hit', 'miss'])
      expect(new Set(all.map((reply) => reply.text))).toEqual(new Set([`echo: ${content}`]))
    })

  it('streams the leader’s chunks to a streamed follower on the other instance as they arrive', async () => {
    const content = `chunks across processes ${Date.now()}`
    const body = JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content }],
      stream: true,
    })
    const headers = { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' }
    const leaderEnded = fetch(`${first.url}/v1/chat/completions`, { method: 'POST', headers, body })
      .then((response) => response.text())
      .then(() => performance.now())
    await new Promise((resolve) => setTimeout(resolve, 60))
    const response = await fetch(`${second.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body,
    })
    expect(response.headers.get('x-gatehouse-cache')).toBe('hit')
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    let firstContentAt: number | null = null
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
      if (firstContentAt === null && text.includes('"content":"'))
        firstContentAt = performance.now()
    }
    const endedAt = await leaderEnded
    expect(firstContentAt).not.toBeNull()
    // The first content came while the leader's stream still had chunks to send (80 ms apart).
    expect(endedAt - firstContentAt!).toBeGreaterThan(100)
    expect(text.trim().endsWith('data: [DONE]')).toBe(true)
    expect(chatCalls(content)).toBe(1)
  })

  it('goes upstream itself as soon as the other instance’s leader gives up, never with its error', async () => {
    const content = `a leader that gives up ${Date.now()}`
    upstream.enqueue({ delayFirstByteMs: 5_000 })
    const aborted = new AbortController()
    const leader = fetch(`${first.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }),
      signal: aborted.signal,
    }).catch((error: unknown) => error)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    const follower = ask(second, content)
    await new Promise((resolve) => setTimeout(resolve, 200))
    // The leader's client leaves: its call is cancelled, its lead released.
    aborted.abort()
    const followed = await follower
    expect(followed).toMatchObject({ status: 200, cache: 'miss', text: `echo: ${content}` })
    // Woken by the release, not by the end of its 1.5 s wait.
    expect(Date.now() - started).toBeLessThan(1_200)
    expect(chatCalls(content)).toBe(2)
    await leader
  })

  it('waits at most flightWaitMs for the other instance, then goes upstream itself', async () => {
    const content = `a slow leader ${Date.now()}`
    upstream.enqueue({ delayFirstByteMs: 4_000 })
    const leader = ask(first, content)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    const follower = await ask(second, content)
    const waited = Date.now() - started
    expect(follower).toMatchObject({ status: 200, cache: 'miss' })
    expect(waited).toBeGreaterThanOrEqual(1_400)
    expect(waited).toBeLessThan(3_500)
    expect(chatCalls(content)).toBe(2)
    expect((await leader).status).toBe(200)
  }, 15_000)
})
