/**
 * Millions of usage events, and their hourly and daily roll-ups, generated inside PostgreSQL with `generate_series`
 * (seconds, where writing them through the store would take many minutes), for measuring reads at scale.
 *
 * The shape is a busy multi-tenant gateway: 20 tenants with 10 keys each, every key busy every hour; each key calls
 * 2 of 10 models (across 3 providers) for 3 end users, plus requests that name none; events spread evenly over the
 * span. That makes about 1,600 roll-up rows per hour, whatever the event count (the roll-ups' size depends on how
 * many combinations are active, not on traffic). Counts vary per event, some are unknown (`NULL`:
 * cached tokens on a quarter of requests, the cost on one in fifty), 1 in 97 is a 429 and 1 in 211 a client abort.
 *
 * The roll-ups are computed from the generated events by SQL that mirrors what `record()` maintains; the benchmark
 * checks one summary against an aggregate of the raw events, so a drift between the two shows.
 */
import { sql, type Kysely } from 'kysely'
import type { SqlSchema } from '../src/stores/sql/sql-schema.ts'

export type GeneratedUsage = {
  events: number
  /** Epoch ms of the first event, and the span they cover. */
  start: number
  spanMs: number
}

const hourMs = 3_600_000
const dayMs = 86_400_000

/**
 * Drops `table`'s primary key and indexes, and returns what recreates them from their own definitions (so they never
 * drift from the migrations): a bulk load then builds each index once, sorted, instead of maintaining it row by row.
 */
const dropIndexes = async (
  session: Kysely<SqlSchema>,
  table: string
): Promise<() => Promise<void>> => {
  const { rows: constraints } = await sql<{ name: string; definition: string }>`
    select conname as name, pg_get_constraintdef(oid) as definition
    from pg_constraint where conrelid = ${table}::regclass and contype = 'p'
  `.execute(session)
  const { rows: indexes } = await sql<{ name: string; definition: string }>`
    select indexname as name, indexdef as definition from pg_indexes
    where tablename = ${table} and indexname not in (
      select conname from pg_constraint where conrelid = ${table}::regclass
    )
  `.execute(session)
  for (const { name } of constraints)
    await sql`alter table ${sql.table(table)} drop constraint ${sql.ref(name)}`.execute(session)
  for (const { name } of indexes) await sql`drop index ${sql.ref(name)}`.execute(session)
  return async () => {
    for (const { name, definition } of constraints)
      await sql`alter table ${sql.table(table)} add constraint ${sql.ref(name)} ${sql.raw(definition)}`.execute(
        session
      )
    for (const { definition } of indexes) await sql.raw(definition).execute(session)
  }
}

const timed = async (work: () => Promise<unknown>): Promise<number> => {
  const begun = performance.now()
  await work()
  return (performance.now() - begun) / 1_000
}

export type GenerationTimes = { eventsS: number; hourlyS: number; dailyS: number; indexesS: number }

/** Inserts `events` events over `[start, start + spanMs)` and their roll-ups; returns the seconds each step took. */
export const generateUsageInPostgres = (
  db: Kysely<SqlSchema>,
  usage: GeneratedUsage
): Promise<GenerationTimes> =>
  // One session for the settings to hold: memory enough to aggregate in a hash table rather than sort on disk.
  db.connection().execute(async (session) => {
    const { events, start, spanMs } = usage
    const n = sql.lit(events)
    await sql`set work_mem = '512MB'`.execute(session)
    await sql`set maintenance_work_mem = '512MB'`.execute(session)
    const restores = [
      await dropIndexes(session, 'usage_events'),
      await dropIndexes(session, 'usage_hourly'),
      await dropIndexes(session, 'usage_daily'),
    ]

    const eventsS = await timed(() =>
      sql`
      insert into usage_events (
        id, time, request_id, tenant_id, key_id, user_id, tags, operation, requested_model, provider, model,
        attempts, status, stream, error, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
        reasoning_tokens, cost_micro_usd, latency_ms, ttfb_ms, client_aborted
      )
      select
        'evt_' || i,
        ${sql.lit(start)}::bigint + (i::bigint * ${sql.lit(spanMs)}::bigint) / ${n},
        'req_' || i,
        'ten_' || (i % 200) % 20,
        'key_' || i % 200,
        case when (i / 1000) % 4 = 3 then null else 'user_' || i % 200 || '_' || (i / 1000) % 4 end,
        '[]'::jsonb,
        'chat-completions',
        'model-' || (i % 200 + (i / 7) % 2) % 10,
        'provider-' || ((i % 200 + (i / 7) % 2) % 10) % 3,
        'model-' || (i % 200 + (i / 7) % 2) % 10,
        1,
        case when i % 97 = 0 then 429 else 200 end,
        i % 2,
        null,
        100 + i % 1000,
        20 + i % 300,
        case when i % 4 = 0 then null else i % 100 end,
        null,
        null,
        case when i % 50 = 0 then null else (100 + i % 1000) * 3 + (20 + i % 300) * 15 end,
        200 + i % 800,
        50 + i % 100,
        case when i % 211 = 0 then 1 else 0 end
      from generate_series(0, ${n} - 1) as i
    `.execute(session)
    )

    const hourlyS = await timed(() =>
      sql`
      insert into usage_hourly
      select
        time - time % ${sql.lit(hourMs)}, coalesce(tenant_id, ''), coalesce(key_id, ''), coalesce(model, ''),
        coalesce(provider, ''), coalesce(user_id, ''),
        count(*), count(*) filter (where status >= 400 or error is not null), sum(client_aborted),
        sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(cache_write_tokens), sum(reasoning_tokens),
        sum(cost_micro_usd), count(*) filter (where cost_micro_usd is null), sum(latency_ms)
      from usage_events
      group by 1, 2, 3, 4, 5, 6
    `.execute(session)
    )

    const dailyS = await timed(() =>
      sql`
      insert into usage_daily
      select
        bucket_start - bucket_start % ${sql.lit(dayMs)}, tenant_id, key_id, model, provider, user_id,
        sum(requests), sum(errors), sum(client_aborted), sum(input_tokens), sum(output_tokens),
        sum(cached_tokens), sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_micro_usd),
        sum(unpriced_requests), sum(latency_ms_total)
      from usage_hourly
      group by 1, 2, 3, 4, 5, 6
    `.execute(session)
    )

    const indexesS = await timed(async () => {
      for (const restore of restores) await restore()
    })
    await sql`analyze`.execute(session)
    return { eventsS, hourlyS, dailyS, indexesS }
  })

/**
 * What `summarize({ from, to, groupBy: ['model'] })` must answer, computed from the raw events (hour-rounded range, as
 * the store rounds it): the check that the summary read from roll-ups is the events' truth.
 */
export const modelTotalsFromEvents = async (
  db: Kysely<SqlSchema>,
  range: { from: number; to: number }
): Promise<Record<string, { requests: number; cost: number | null; input: number | null }>> => {
  const from = range.from - (range.from % hourMs)
  const to = Math.ceil(range.to / hourMs) * hourMs
  const { rows } = await sql<{
    model: string
    requests: number
    cost: number | null
    input: number | null
  }>`
    select model, count(*)::bigint as requests, sum(cost_micro_usd)::bigint as cost,
      sum(input_tokens)::bigint as input
    from usage_events where time >= ${from} and time < ${to}
    group by model
  `.execute(db)
  return Object.fromEntries(
    rows.map((row) => [row.model, { requests: row.requests, cost: row.cost, input: row.input }])
  )
}
