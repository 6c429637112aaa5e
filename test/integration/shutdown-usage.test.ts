/**
 * Usage leaves the gateway through one sink, and shutdown does not lose it: a stream still flowing when the server is
 * asked to close finishes within the drain, and its usage event is written before the process reports it is done;
 * requests the drain timeout cuts short are stored too. Refused requests are accounted for too.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
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

const start = async (lines: string[], configLines: string[] = []) => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-shutdown-'))
  writeFileSync(join(cwd, 'gatehouse.yaml'), configLines.join('\n'))
  const server = await startNodeServer({
    env: {
      GATEHOUSE_CONFIG: 'gatehouse.yaml',
      OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
      OPENAI_BASE_URL: upstream.baseUrl,
      GATEHOUSE_MASTER_KEY: masterKey,
      PORT: '0',
      USAGE_LOG: 'true',
    },
    cwd,
    stdout: (line) => lines.push(line),
  })
  return Object.assign(server, { cwd })
}

const chat = (server: { url: string }, options: { requestId: string; stream: boolean }) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${masterKey}`,
      'content-type': 'application/json',
      'x-request-id': options.requestId,
    },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      stream: options.stream,
      messages: [{ role: 'user', content: 'tell me a long story now' }],
    }),
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
    const response = await chat(server, { requestId: 'req-draining', stream: true })
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

  it('ends the requests the drain timeout cuts short with the reason, and stores their usage: a stream mid-way and a call still waiting for its upstream', async () => {
    const server = await start([], ['server: { drainTimeoutMs: 50 }'])
    const chatCalls = (): number =>
      upstream.requests.filter((request) => request.path.endsWith('/chat/completions')).length
    const chatCallsBefore = chatCalls()
    try {
      // Streams of 6 chunks 60 ms apart outlast the drain; the next two calls wait 5 s for the upstream's first byte.
      const streams = await Promise.all(
        ['cut-0', 'cut-1'].map(async (requestId) => {
          const response = await chat(server, { requestId, stream: true })
          const reader = response.body!.getReader()
          await reader.read()
          return reader
        })
      )
      upstream.enqueue({ delayFirstByteMs: 5_000 }, { delayFirstByteMs: 5_000 })
      const waiting = [
        chat(server, { requestId: 'wait-0', stream: true }),
        chat(server, { requestId: 'wait-1', stream: false }),
      ].map((response) => response.catch((error: unknown) => error))
      await expect.poll(() => chatCalls() - chatCallsBefore).toBeGreaterThanOrEqual(4)
      const closing = server.close()
      // What the cut streams still get: the rest, ending with the error event that says why.
      const rests = streams.map(async (reader) => {
        let text = ''
        for (;;) {
          const step = await reader.read().catch(() => ({ done: true as const, value: undefined }))
          if (step.done) return text
          text += new TextDecoder().decode(step.value)
        }
      })
      const [answers, texts] = await Promise.all([
        Promise.all(waiting),
        Promise.all(rests),
        closing,
      ])
      for (const text of texts)
        expect(text).toMatch(
          /data: \{"error":\{"message":"The gateway is shutting down: retry the request\."/
        )
      // The stream still waiting for its first byte, and the plain call: a 503 that says why, which the SDKs may
      // retry (on another instance): `x-should-retry: true`, which they obey before the status.
      for (const answer of answers) {
        expect((answer as Response).status).toBe(503)
        expect((answer as Response).headers.get('x-should-retry')).toBe('true')
        expect(await (answer as Response).json()).toMatchObject({
          error: { message: 'The gateway is shutting down: retry the request.' },
        })
      }

      const sqlite = new Database(join(server.cwd, 'data', 'gatehouse.db'), { readonly: true })
      try {
        const rows = sqlite
          .prepare(
            'select request_id, status, client_aborted, error from usage_events order by request_id'
          )
          .all()
        const error = 'The gateway is shutting down: retry the request.'
        expect(rows).toEqual([
          { request_id: 'cut-0', status: 200, client_aborted: 0, error },
          { request_id: 'cut-1', status: 200, client_aborted: 0, error },
          { request_id: 'wait-0', status: 503, client_aborted: 0, error },
          { request_id: 'wait-1', status: 503, client_aborted: 0, error },
        ])
      } finally {
        sqlite.close()
      }
    } finally {
      rmSync(server.cwd, { recursive: true, force: true })
    }
  })
})
