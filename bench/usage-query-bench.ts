/**
 * `node --import tsx bench/usage-query-bench.ts [events]` (default 10,000,000): usage reads at scale on PostgreSQL.
 * Generates the events and their roll-ups in a throwaway database (`generate-usage-in-postgres.ts`), then times the
 * queries a dashboard, the admin API and a budget make, each through the SQL usage store's `summarize()` or
 * `spent()`, and checks the first against an aggregate of the raw events. Prints one line per query (median and
 * slowest of 5 runs after a warm-up) and exits 1 when a 30-day query takes a second or more, or a check fails.
 *
 * PostgreSQL comes from `GATEHOUSE_TEST_POSTGRES_URL` (default the local server, as the tests use); the database is
 * dropped at the end, also on failure.
 */
import { systemClock } from '../src/core/clock.ts'
import { migrateSqlDatabase } from '../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase } from '../src/stores/sql/open-sql-database.ts'
import { createSqlUsageStore } from '../src/stores/sql/sql-usage-store.ts'
import type { UsageQuery, UsageRow } from '../src/stores/usage-store.ts'
import { createThrowawayPostgresDatabase } from '../test/contract/create-throwaway-postgres-database.ts'
import { generateUsageInPostgres, modelTotalsFromEvents } from './generate-usage-in-postgres.ts'

const day = 86_400_000
const events = Number(process.argv[2] ?? 10_000_000)
if (!Number.isSafeInteger(events) || events <= 0)
  throw new Error(`the event count is a positive integer, got ${process.argv[2]}`)

// The data ends at an instant inside an hour and a day, as "the last 30 days" from now does.
const end = Date.UTC(2026, 2, 31, 14, 37, 12)
const start = end - 30 * day

type Measured = { name: string; rows: number; medianMs: number; slowestMs: number }

const measure = async (name: string, run: () => Promise<unknown>): Promise<Measured> => {
  await run()
  const times: number[] = []
  let rows = 0
  for (let round = 0; round < 5; round += 1) {
    const begun = performance.now()
    const result = await run()
    times.push(performance.now() - begun)
    rows = Array.isArray(result) ? result.length : 1
  }
  times.sort((a, b) => a - b)
  return { name, rows, medianMs: times[2], slowestMs: times[4] }
}

const database = await createThrowawayPostgresDatabase()
const sql = openSqlDatabase({ url: database.url, cwd: process.cwd(), poolSize: 2 })
let failed = false
try {
  await migrateSqlDatabase(sql)
  console.log(`Generating ${events.toLocaleString('en')} events over 30 days in ${database.name}…`)
  const generated = await generateUsageInPostgres(sql.db, { events, start, spanMs: 30 * day })
  const counts = await sql.db
    .selectNoFrom((eb) => [
      eb.selectFrom('usage_hourly').select(eb.fn.countAll<number>().as('n')).as('hourly'),
      eb.selectFrom('usage_daily').select(eb.fn.countAll<number>().as('n')).as('daily'),
    ])
    .executeTakeFirstOrThrow()
  console.log(
    `  events ${generated.eventsS.toFixed(1)} s, hourly roll-up ${generated.hourlyS.toFixed(1)} s ` +
      `(${Number(counts.hourly).toLocaleString('en')} rows), daily roll-up ${generated.dailyS.toFixed(1)} s ` +
      `(${Number(counts.daily).toLocaleString('en')} rows), indexes ${generated.indexesS.toFixed(1)} s`
  )

  const store = createSqlUsageStore({ database: sql })
  const last30Days = { from: end - 30 * day, to: end }
  const queries: [string, UsageQuery][] = [
    [
      '30 days, everyone, by model and day',
      { ...last30Days, groupBy: ['model'], granularity: 'day' },
    ],
    ['30 days, everyone, by tenant', { ...last30Days, groupBy: ['tenant'] }],
    [
      '30 days, everyone, by key, model, user',
      { ...last30Days, groupBy: ['key', 'model', 'user'] },
    ],
    [
      '30 days, one tenant, by key and day',
      { ...last30Days, tenantId: 'ten_3', groupBy: ['key'], granularity: 'day' },
    ],
    ['30 days, one tenant, by user', { ...last30Days, tenantId: 'ten_3', groupBy: ['user'] }],
    [
      '30 days, one tenant, by model and hour',
      { ...last30Days, tenantId: 'ten_3', groupBy: ['model'], granularity: 'hour' },
    ],
    [
      '7 days, one key, by model and hour',
      { from: end - 7 * day, to: end, keyId: 'key_42', groupBy: ['model'], granularity: 'hour' },
    ],
  ]
  const results: Measured[] = []
  for (const [name, query] of queries)
    results.push(await measure(name, () => store.summarize(query)))
  const monthStart = Date.UTC(2026, 2, 1)
  results.push(
    await measure('budget: one tenant, spent this month', () =>
      store.spent({ tenantId: 'ten_3' }, monthStart)
    )
  )

  console.log('')
  for (const result of results)
    console.log(
      `${result.name.padEnd(44)} ${String(result.rows).padStart(6)} rows  ` +
        `median ${result.medianMs.toFixed(1).padStart(7)} ms  slowest ${result.slowestMs.toFixed(1).padStart(7)} ms`
    )
  const slow = results.filter(
    (result) => result.name.startsWith('30 days') && result.slowestMs >= 1_000
  )
  if (slow.length > 0) {
    failed = true
    console.log(`\nFAIL: ${slow.map((result) => result.name).join('; ')} took a second or more`)
  }

  // The roll-ups are the events' truth: the first query, summed over its days, equals the raw aggregate.
  const truth = await modelTotalsFromEvents(sql.db, last30Days)
  const summarized: Record<
    string,
    { requests: number; cost: number | null; input: number | null }
  > = {}
  for (const row of (await store.summarize({ ...last30Days, groupBy: ['model'] })) as UsageRow[])
    summarized[row.model ?? ''] = {
      requests: row.requests,
      cost: row.cost_micro_usd,
      input: row.input_tokens,
    }
  const canonical = (totals: typeof truth): string =>
    JSON.stringify(Object.entries(totals).sort(([a], [b]) => (a < b ? -1 : 1)))
  const matches = canonical(summarized) === canonical(truth)
  const totalRequests = Object.values(truth).reduce((sum, model) => sum + model.requests, 0)
  console.log(
    `\nCheck against ${totalRequests.toLocaleString('en')} raw events: ${matches ? 'summaries match' : 'MISMATCH'}`
  )
  if (!matches) {
    failed = true
    console.log(JSON.stringify({ summarized, truth }, null, 2))
  }
  console.log(`(measured at ${new Date(systemClock.now()).toISOString()})`)
} finally {
  await sql.close()
  await database.drop()
}
process.exit(failed ? 1 : 0)
