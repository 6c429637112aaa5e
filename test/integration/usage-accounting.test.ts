/**
 * Every streamed token is accounted for, even when the client did not ask for usage: the gateway asks the upstream
 * for it, records it, and the client receives exactly the stream it asked for (no `usage` key, no `choices: []` chunk).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'

const masterKey = 'usage-master-key'
let upstream: MockUpstream
let server: NodeServer
const lines: string[] = []

const usageRecords = (): Record<string, unknown>[] =>
  lines
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"msg":"usage"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)

const waitForRecord = async (requestId: string): Promise<Record<string, unknown>> => {
  const deadline = Date.now() + 3000
  for (;;) {
    const record = usageRecords().find((candidate) => candidate.requestId === requestId)
    if (record) return record
    if (Date.now() > deadline) throw new Error(`no usage record for ${requestId}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

beforeAll(async () => {
  await preloadOpenAIValidator()
  upstream = await startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY, streamChunks: 5 })
  server = await startNodeServer({
    env: {
      OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
      OPENAI_BASE_URL: upstream.baseUrl,
      GATEHOUSE_MASTER_KEY: masterKey,
      PORT: '0',
      USAGE_LOG: 'true',
    },
    cwd: mkdtempSync(join(tmpdir(), 'gatehouse-usage-')),
    stdout: (line) => lines.push(line),
  })
})

afterAll(async () => {
  await server?.close()
  await upstream?.close()
})

describe('usage of forwarded streams', () => {
  it('records the tokens of a stream whose client did not ask for usage, and sends that client no usage', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: masterKey, maxRetries: 0 })
    const { data: stream, response } = await client.chat.completions
      .create({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'count my tokens please' }],
      })
      .withResponse()
    const chunks: Record<string, unknown>[] = []
    for await (const chunk of stream) chunks.push(chunk as unknown as Record<string, unknown>)

    const sent = upstream.requests.find((request) => request.method === 'POST')!.body as Record<
      string,
      unknown
    >
    expect(sent.stream_options).toEqual({ include_usage: true })
    expect(chunks.length).toBeGreaterThan(2)
    for (const chunk of chunks) {
      expect(chunk).not.toHaveProperty('usage')
      expect((chunk.choices as unknown[]).length).toBe(1)
      expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
    }
    expect(
      chunks
        .map((chunk) => (chunk.choices as { delta: { content?: string } }[])[0].delta.content ?? '')
        .join('')
    ).toContain('count my tokens please')

    const record = await waitForRecord(response.headers.get('x-request-id')!)
    const usage = record.usage as { inputTokens: number; outputTokens: number }
    expect(usage.inputTokens).toBeGreaterThan(0)
    expect(usage.outputTokens).toBeGreaterThan(0)
  })

  it('leaves a stream that asked for usage untouched, usage chunk included', async () => {
    upstream.reset()
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'hi' }],
      }),
    })
    const text = await response.text()
    expect(text).toContain('"usage":null')
    expect(text).toMatch(/"choices":\[\],"usage":\{/)
    const record = await waitForRecord(response.headers.get('x-request-id')!)
    expect((record.usage as { outputTokens: number }).outputTokens).toBeGreaterThan(0)
  })
})
