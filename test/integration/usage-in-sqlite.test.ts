/**
 * With no database configured, the gateway keeps usage in a SQLite file under `./data/`, written by a worker thread
 * off the event loop: every request, the refused ones included, is there after a graceful shutdown.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openSqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

let upstream: MockUpstream

beforeAll(async () => {
  upstream = await startMockOpenAIUpstream()
})

afterAll(async () => {
  await upstream?.close()
})

describe('usage in the default SQLite store', () => {
  it('holds every request after a graceful shutdown, with its cost (and no usage log line)', async () => {
    const lines: string[] = []
    const gateway = await startTestGateway({
      env: { LOG_LEVEL: 'info' },
      stdout: (line) => lines.push(line),
      config: [
        'auth: { masterKey: usage-master-key }',
        'providers:',
        `  openai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false }`,
      ],
    })
    const client = new OpenAI({ apiKey: 'usage-master-key', baseURL: `${gateway.url}/v1` })
    await Promise.all(
      Array.from({ length: 5 }, () =>
        client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'Hello there.' }],
        })
      )
    )
    const refused = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST' })
    expect(refused.status).toBe(401)
    await gateway.close()
    // The store is the record; a log line per request is opt-in (`usage.log`).
    expect(lines.join('\n')).toContain('"msg":"stores open"')
    expect(lines.join('\n')).not.toContain('"msg":"usage"')

    const database = openSqlDatabase({ url: 'sqlite:./data/gatehouse.db', cwd: gateway.cwd })
    try {
      const rows = await createSqlUsageStore({ database }).summarize({
        from: 0,
        to: Date.now() + 3_600_000,
        groupBy: ['model'],
      })
      expect(rows.find((row) => row.model === null)).toMatchObject({ requests: 1, errors: 1 })
      const served = rows.find((row) => row.model !== null)
      expect(served).toMatchObject({ requests: 5, errors: 0, unpriced_requests: 0 })
      expect(served?.cost_micro_usd).toBeGreaterThan(0)
    } finally {
      await database.close()
    }
  })
})
