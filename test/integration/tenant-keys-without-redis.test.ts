/**
 * Two gateways on one SQLite file and no Redis: the revocation feed is each process's own, so a key revoked through
 * one (or in the database by any other writer) must still be refused by the other within a second. The other
 * remembers a key for a second at most (`unsharedKeyCacheTtlMs`), not the 10 s it keeps with Redis's feed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/core/clock.ts'
import { generateApiKey } from '../../src/core/generate-api-key.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import type { NodeServer } from '../../src/runtime/node.ts'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlTenantStore } from '../../src/stores/sql/sql-tenant-store.ts'
import { startMockOpenAIUpstream, MOCK_OPENAI_API_KEY } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

let upstream: MockUpstream
let folder: string
let sql: SqlDatabase
const gateways: NodeServer[] = []

beforeAll(async () => {
  upstream = await startMockOpenAIUpstream()
  folder = mkdtempSync(join(tmpdir(), 'gatehouse-no-redis-'))
  const url = `sqlite:${join(folder, 'gatehouse.db')}`
  sql = openSqlDatabase({ url, cwd: folder })
  await migrateSqlDatabase(sql)
  for (let index = 0; index < 2; index += 1)
    gateways.push(
      await startTestGateway({
        config: [
          'auth: { masterKey: no-redis-master-key }',
          'providers:',
          `  openai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false, models: [gpt-4o-mini] }`,
        ],
        env: { DATABASE_URL: url },
      })
    )
}, 60_000)

afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.close()))
  await sql?.close()
  await upstream?.close()
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true })
}, 60_000)

const statusOf = async (gateway: NodeServer, apiKey: string): Promise<number> => {
  try {
    await new OpenAI({
      apiKey,
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello.' }],
      max_tokens: 20,
    })
    return 200
  } catch (error) {
    return (error as { status?: number }).status ?? -1
  }
}

describe('tenant keys on two gateways sharing a database without Redis', () => {
  it('a key revoked in the database is refused by both within a second', async () => {
    const tenants = createSqlTenantStore({ database: sql, clock: systemClock })
    const tenant = await tenants.createTenant({ name: 'acme' })
    const generated = generateApiKey()
    const key = await tenants.createKey({
      tenantId: tenant.id,
      name: 'service',
      hash: await hashApiKey(generated.key),
      displayPrefix: generated.displayPrefix,
    })
    // Both gateways have the key remembered.
    for (const gateway of gateways) expect(await statusOf(gateway, generated.key)).toBe(200)
    for (const gateway of gateways) expect(await statusOf(gateway, generated.key)).toBe(200)
    await tenants.revokeKey(key.id)
    const revokedAt = Date.now()
    for (const gateway of gateways)
      await expect
        .poll(() => statusOf(gateway, generated.key), { timeout: 2_000, interval: 50 })
        .toBe(401)
    // A second of remembering, and the last request's own time.
    expect(Date.now() - revokedAt).toBeLessThan(1_500)
  })
})
