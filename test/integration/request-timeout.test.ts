/**
 * `server.requestTimeoutMs` on the real Node server: a client that stops sending its request partway (a slow body,
 * the slowloris pattern) gets a 408 and its connection closed, in about the timeout, with content-length or chunked,
 * and is recorded as the gateway's 408 (not as a client that left);
 * a request sent whole, slowly but in time, is served; and the answer itself is not bounded by it (an upstream slower
 * than the timeout is still waited for).
 */
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requestTimeouts } from '../../src/runtime/serve-node.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'
import type { NodeServer } from '../../src/runtime/node.ts'

const masterKey = 'test-master-key'
const timeoutMs = 600

type RawExchange = { text: string; closedAfterMs: number }

/**
 * Writes `head`, then each of `pieces` `gapMs` apart, on a raw socket, and reads until the server closes it (or
 * `giveUpMs` passes: then `closedAfterMs` is -1).
 */
const rawExchange = (options: {
  port: number
  head: string
  pieces: string[]
  gapMs: number
  giveUpMs: number
  /** Close from this side once a whole response is in (a served request on a keep-alive connection). */
  untilResponse?: boolean
}): Promise<RawExchange> =>
  new Promise((resolve) => {
    const startedAt = performance.now()
    const socket = connect(options.port, '127.0.0.1')
    let text = ''
    let done = false
    const finish = (closedAfterMs: number): void => {
      if (done) return
      done = true
      clearTimeout(giveUp)
      socket.destroy()
      resolve({ text, closedAfterMs })
    }
    const giveUp = setTimeout(() => finish(-1), options.giveUpMs)
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      if (options.untilResponse === true && /\r\n\r\n[\s\S]*\}\s*$/.test(text))
        finish(performance.now() - startedAt)
    })
    socket.on('close', () => finish(performance.now() - startedAt))
    socket.on('error', () => {})
    socket.write(options.head)
    options.pieces.forEach((piece, index) => {
      setTimeout(
        () => {
          if (!socket.destroyed) socket.write(piece)
        },
        options.gapMs * (index + 1)
      )
    })
  })

const chatBody = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hi' }],
})

const headFor = (path: string, headers: Record<string, string>): string =>
  `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${masterKey}\r\n` +
  `content-type: application/json\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`

describe('server.requestTimeoutMs on the real Node server', () => {
  let upstream: MockUpstream
  let gateway: NodeServer
  const lines: string[] = []
  const usageOf = async (path: string): Promise<Record<string, unknown>> => {
    for (let waited = 0; waited < 5_000; waited += 50) {
      const found = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find(
          (entry) => entry.msg === 'usage' && entry.path === undefined && entry.refused === true
        )
      if (found !== undefined && lines.some((line) => line.includes(path))) {
        lines.splice(0)
        return found
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`no usage line for ${path}: ${lines.join('\n')}`)
  }

  beforeAll(async () => {
    upstream = await startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY })
    gateway = await startTestGateway({
      config: [
        `server: { requestTimeoutMs: ${timeoutMs} }`,
        `auth: { masterKey: ${masterKey} }`,
        'providers:',
        `  openai: { type: openai, baseUrl: "${upstream.baseUrl}", apiKey: ${MOCK_OPENAI_API_KEY} }`,
      ],
      env: { LOG_LEVEL: 'info', USAGE_LOG: 'true' },
      stdout: (line) => {
        if (line.includes('"usage"') || line.includes('"request rejected"')) lines.push(line)
      },
    })
  })

  afterAll(async () => {
    await gateway?.close()
    await upstream?.close()
  })

  const port = (): number => Number(new URL(gateway.url).port)

  for (const path of ['/v1/chat/completions', '/v1/messages'])
    it(`answers 408 and closes a connection whose content-length body stalls (${path})`, async () => {
      const exchange = await rawExchange({
        port: port(),
        head: headFor(path, { 'content-length': String(chatBody.length) }),
        pieces: [chatBody.slice(0, 20)],
        gapMs: 50,
        giveUpMs: 10_000,
      })
      expect(exchange.text).toMatch(/^HTTP\/1\.1 408 /)
      expect(exchange.closedAfterMs).toBeGreaterThanOrEqual(timeoutMs - 50)
      // At most one checking interval (a quarter of the timeout) late, with room for a busy machine.
      expect(exchange.closedAfterMs).toBeLessThan(timeoutMs * 1.25 + 1_000)
      expect(await usageOf(path)).toMatchObject({
        status: 408,
        refused: true,
        clientAborted: false,
        error: expect.stringContaining('server.requestTimeoutMs'),
      })
    })

  it('answers 408 and closes a connection whose chunked body trickles on past the timeout', async () => {
    const pieces = Array.from({ length: 40 }, () => '1\r\n \r\n')
    const exchange = await rawExchange({
      port: port(),
      head: headFor('/v1/chat/completions', { 'transfer-encoding': 'chunked' }),
      // A byte every 50 ms: the connection is never idle, the request never complete.
      pieces,
      gapMs: 50,
      giveUpMs: 10_000,
    })
    expect(exchange.text).toMatch(/^HTTP\/1\.1 408 /)
    expect(exchange.closedAfterMs).toBeLessThan(timeoutMs * 1.25 + 1_000)
    expect(exchange.closedAfterMs).toBeLessThan(40 * 50)
    expect(await usageOf('/v1/chat/completions')).toMatchObject({
      status: 408,
      clientAborted: false,
    })
  })

  it("keeps Node's answers to other client errors: 400 for a malformed request, 431 for oversized headers", async () => {
    const malformed = await rawExchange({
      port: port(),
      head: 'NOT HTTP AT ALL\r\n\r\n',
      pieces: [],
      gapMs: 0,
      giveUpMs: 5_000,
    })
    expect(malformed.text).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    const oversized = await rawExchange({
      port: port(),
      head: headFor('/v1/chat/completions', {
        'x-filler': 'x'.repeat(20_000),
        'content-length': '2',
      }),
      pieces: [],
      gapMs: 0,
      giveUpMs: 5_000,
    })
    expect(oversized.text).toMatch(/^HTTP\/1\.1 431 /)
  })

  it('serves a request sent slowly but whole within the timeout', async () => {
    const half = Math.floor(chatBody.length / 2)
    const exchange = await rawExchange({
      port: port(),
      head: headFor('/v1/chat/completions', { 'content-length': String(chatBody.length) }),
      pieces: [chatBody.slice(0, half), chatBody.slice(half)],
      gapMs: 150,
      giveUpMs: 10_000,
      untilResponse: true,
    })
    expect(exchange.text).toMatch(/^HTTP\/1\.1 200 /)
    expect(exchange.text).toContain('"chat.completion"')
  })

  it('does not bound the answer: an upstream slower than the timeout is waited for', async () => {
    upstream.enqueue({ delayFirstByteMs: timeoutMs * 3 })
    const startedAt = performance.now()
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: chatBody,
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ object: 'chat.completion' })
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(timeoutMs * 3 - 50)
  })
})

describe('requestTimeouts', () => {
  it("keeps Node's headers timeout within the request timeout and checks four times per timeout, at most every 30 s", () => {
    expect(requestTimeouts(60_000)).toEqual({
      requestTimeout: 60_000,
      headersTimeout: 60_000,
      connectionsCheckingInterval: 15_000,
    })
    expect(requestTimeouts(600)).toEqual({
      requestTimeout: 600,
      headersTimeout: 600,
      connectionsCheckingInterval: 150,
    })
    expect(requestTimeouts(300_000).connectionsCheckingInterval).toBe(30_000)
    expect(requestTimeouts(200).connectionsCheckingInterval).toBe(100)
  })
})
