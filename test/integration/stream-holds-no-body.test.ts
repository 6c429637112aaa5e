/**
 * A stream in flight holds no parsed copy of its request's body: what reports its end (usage, the breaker, the
 * observer) is made apart from the closures that read the body (docs/architecture.md, "What a stream holds for its
 * life is small"). For 500 streams of long conversations, each parsed body held to the stream's end was hundreds of
 * KB of old generation.
 *
 * The request's one message is a text that never exists in this process as a string of its own: the body is built by
 * concatenation around two halves. Parsing it is what makes that string; a heap snapshot (which collects first) taken
 * while the stream is open must not find it. The body's bytes, which undici keeps for the upstream request until its
 * response ends, are a buffer, not a string.
 */
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getHeapSnapshot } from 'node:v8'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeServer } from '../../src/runtime/node.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'held-body-master-key'

/** An OpenAI-compatible upstream whose streams send their first chunk and then stay open until closed. */
const startOpenStreams = async () => {
  const open = new Set<ServerResponse>()
  const server: Server = createServer((request, response) => {
    // The request's body is read and dropped: nothing of it stays here.
    request.resume()
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write(
        `data: ${JSON.stringify({
          id: 'chatcmpl-held',
          object: 'chat.completion.chunk',
          created: 1_767_225_600,
          model: 'held-model',
          choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
        })}\n\n`
      )
      open.add(response)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: async () => {
      for (const response of open) response.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Whether a string exactly `wanted` is in a heap snapshot of this process. */
const heapHoldsString = async (wanted: string): Promise<boolean> => {
  const parts: string[] = []
  for await (const part of getHeapSnapshot()) parts.push(String(part))
  const snapshot = JSON.parse(parts.join('')) as { strings: string[] }
  return snapshot.strings.includes(wanted)
}

let upstream: Awaited<ReturnType<typeof startOpenStreams>>
let gateway: NodeServer

beforeAll(async () => {
  upstream = await startOpenStreams()
  gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      'providers:',
      `  held: { type: openai-compatible, baseUrl: "${upstream.url}", discoverModels: false }`,
    ],
  })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

describe('a stream in flight', () => {
  it('holds no parsed copy of its request body', { timeout: 60_000 }, async () => {
    const stamp = `${process.pid}-${Date.now()}`
    const first = `a message only the gateway's parse makes whole, ${stamp}, `
    // Under 1,024 characters: a heap snapshot names a string by at most that many.
    const second = 'lorem ipsum dolor sit amet '.repeat(20)
    const body =
      '{"model":"held/held-model","stream":true,"messages":[{"role":"user","content":"' +
      first +
      second +
      '"}]}'
    const controller = new AbortController()
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body,
      signal: controller.signal,
    })
    expect(response.status).toBe(200)
    const reader = response.body!.getReader()
    // The first chunk is through: the route has answered, and only the stream holds what it still holds.
    const chunk = await reader.read()
    expect(new TextDecoder().decode(chunk.value)).toContain('chat.completion.chunk')
    try {
      expect(await heapHoldsString(first + second)).toBe(false)
    } finally {
      controller.abort()
      await reader.cancel().catch(() => {})
    }
  })
})
