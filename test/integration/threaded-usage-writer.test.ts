/**
 * The usage writer thread on SQLite: records reach the store whole (they cross to the thread as rows of values), and
 * the thread runs below the request thread's priority, so that on a shared core its batches wait, not the requests.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { createThreadedUsageWriter } from '../../src/runtime/threaded-usage-writer.ts'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import type { UsageRecord } from '../../src/stores/usage-store.ts'
import { createTemporarySqliteUrl } from '../contract/sql-store-implementations.ts'

const record = (index: number, time: number): UsageRecord => ({
  id: `0190a1b2-c3d4-7e5f-8a9b-${String(index).padStart(12, '0')}`,
  kind: index === 4 ? 'settlement' : 'request',
  time,
  requestId: `req-${index}`,
  tenantId: null,
  keyId: null,
  userId: index % 2 === 0 ? `user-${index}` : null,
  tags: index % 2 === 0 ? ['team-a', 'eval'] : [],
  operation: 'chat-completions',
  requestedModel: 'gpt-4o-mini',
  provider: 'openai',
  model: 'gpt-4o-mini-2024-07-18',
  attempts: 1 + (index % 3),
  status: index === 3 ? 502 : 200,
  stream: index % 2 === 1,
  error: index === 3 ? 'upstream failed' : null,
  inputTokens: 10 + index,
  outputTokens: index === 3 ? null : 5 + index,
  cachedTokens: index,
  cacheWriteTokens: null,
  reasoningTokens: 0,
  costMicroUsd: index === 3 ? null : 100 + index,
  latencyMs: 20 + index,
  ttfbMs: 10 + index,
  clientAborted: index === 4,
  cache: index === 1 ? 'hit' : index === 2 ? 'miss' : null,
  savedCostMicroUsd: index === 1 ? 900 : null,
})

/** The `nice` value of each thread of this process (Linux: `/proc/self/task/<tid>/stat`, the 19th field). */
const threadNiceValues = (): number[] =>
  readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
  })

describe('the usage writer thread (SQLite)', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it('writes every field of every record, and runs below the request thread', async () => {
    const sqlite = createTemporarySqliteUrl()
    cleanups.push(sqlite.drop)
    const database = openSqlDatabase({ url: sqlite.url, cwd: tmpdir() })
    cleanups.push(() => database.close())
    await migrateSqlDatabase(database)
    const niceBefore = process.platform === 'linux' ? threadNiceValues() : []

    const writer = createThreadedUsageWriter({ url: sqlite.url, cwd: tmpdir() })
    cleanups.push(() => writer.close())
    const time = Date.UTC(2026, 11, 3, 10)
    const records = [1, 2, 3, 4].map((index) => record(index, time + index))
    await writer.record(records)

    const rows = await database.db.selectFrom('usage_events').selectAll().orderBy('id').execute()
    expect(rows).toHaveLength(4)
    const byRequest = new Map(rows.map((row) => [row.request_id, row]))
    for (const sent of records) {
      const row = byRequest.get(sent.requestId)!
      expect(row).toMatchObject({
        id: sent.id,
        kind: sent.kind,
        user_id: sent.userId,
        operation: sent.operation,
        requested_model: sent.requestedModel,
        provider: sent.provider,
        model: sent.model,
        attempts: sent.attempts,
        status: sent.status,
        error: sent.error,
        cache: sent.cache,
      })
      expect(Number(row.time)).toBe(sent.time)
      for (const [column, value] of [
        ['input_tokens', sent.inputTokens],
        ['output_tokens', sent.outputTokens],
        ['cached_tokens', sent.cachedTokens],
        ['cache_write_tokens', sent.cacheWriteTokens],
        ['reasoning_tokens', sent.reasoningTokens],
        ['cost_micro_usd', sent.costMicroUsd],
        ['latency_ms', sent.latencyMs],
        ['ttfb_ms', sent.ttfbMs],
        ['saved_cost_micro_usd', sent.savedCostMicroUsd],
      ] as const)
        expect(row[column] === null ? null : Number(row[column]), column).toBe(value)
      expect(Boolean(Number(row.stream))).toBe(sent.stream)
      expect(Boolean(Number(row.client_aborted))).toBe(sent.clientAborted)
      expect(JSON.parse(String(row.tags))).toEqual(sent.tags)
    }

    if (process.platform === 'linux') {
      // One thread more than before, at nice 10; the request thread (and every other) where it was.
      const niceAfter = threadNiceValues()
      expect(niceAfter.filter((nice) => nice === 10).length).toBe(
        niceBefore.filter((nice) => nice === 10).length + 1
      )
      expect(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[16]).toBe(
        String(niceBefore[0] ?? 0)
      )
    }
  })
})
