/**
 * Usage leaves the gateway through one sink, and shutdown does not lose it: a stream still flowing when the server is
 * asked to close finishes within the drain, and its usage event is written before the process reports it is done.
 * Refused requests are accounted for too.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeServer } from '../../src/runtime/node.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'

const masterKey = 'shutdown-usage-master-key'
let upstream: MockUpstream

beforeAll(async () => {
  upstream = await startMockOpenAIUpstream({
    apiKey: MOCK_OPENAI_API_KEY,
    streamChunks: 6,
    chunkDelayMs: 60,
  })
})

afterAll(async () => {
  await upstream?.close()
})

const start = async (lines: string[]) =>
  startNodeServer({
    env: {
      OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
      OPENAI_BASE_URL: upstream.baseUrl,
      GATEHOUSE_MASTER_KEY: masterKey,
      PORT: '0',
      USAGE_LOG: 'true',
    },
    cwd: mkdtempSync(join(tmpdir(), 'gatehouse-shutdown-')),
    stdout: (line) => lines.push(line),
  })

const parse = (lines: string[]): Record<string, unknown>[] =>
  lines
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)

describe('usage at shutdown', () => {
  it('writes the usage of a stream that was still flowing when shutdown began, before shutdown completes', async () => {
    const lines: string[] = []
    const server = await start(lines)
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${masterKey}`,
        'content-type': 'application/json',
        'x-request-id': 'req-draining',
      },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'tell me a long story now' }],
      }),
    })
    const reader = response.body!.getReader()
    await reader.read()
    const closing = server.close()
    let text = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
    await closing
    expect(text).toContain('data: [DONE]')

    const records = parse(lines)
    const usageAt = records.findIndex(
      (record) => record.msg === 'usage' && record.requestId === 'req-draining'
    )
    const doneAt = records.findIndex((record) => record.msg === 'shutdown complete')
    expect(usageAt).toBeGreaterThan(-1)
    expect(doneAt).toBeGreaterThan(usageAt)
    expect(records[usageAt]).toMatchObject({
      operation: 'chat-completions',
      principalId: 'master',
      provider: 'openai',
      status: 200,
      refused: false,
      error: null,
    })
    expect((records[usageAt].usage as { outputTokens: number }).outputTokens).toBeGreaterThan(0)
  })

  it('accounts for requests refused before routing: one event each, marked refused, with no principal for a bad key', async () => {
    const lines: string[] = []
    const server = await start(lines)
    try {
      const refusedKey = await fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': 'wrong',
          'content-type': 'application/json',
          'x-request-id': 'req-bad-key',
        },
        body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [] }),
      })
      const refusedBody = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${masterKey}`,
          'content-type': 'application/json',
          'x-request-id': 'req-bad-body',
        },
        body: JSON.stringify({ model: 42, messages: [] }),
      })
      expect([refusedKey.status, refusedBody.status]).toEqual([401, 400])
    } finally {
      await server.close()
    }
    const usage = parse(lines).filter((record) => record.msg === 'usage')
    expect(
      usage.map((record) => [
        record.requestId,
        record.operation,
        record.status,
        record.refused,
        record.principalId,
      ])
    ).toEqual([
      ['req-bad-key', 'messages', 401, true, null],
      ['req-bad-body', 'chat-completions', 400, true, 'master'],
    ])
    expect(JSON.stringify(usage)).not.toContain('wrong')
  })
})
