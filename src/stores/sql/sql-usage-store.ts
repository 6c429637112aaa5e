/**
 * `UsageStore` on SQLite or PostgreSQL (`openSqlDatabase`).
 *
 * `record` writes a batch in one transaction: the events (skipping ids stored already, so a retried batch counts
 * once), then their hourly and daily roll-ups as upserts. The batch is aggregated here first, so each roll-up row is
 * upserted once per batch (PostgreSQL refuses an `ON CONFLICT DO UPDATE` that meets the same row twice in one
 * statement), and the rows go in one sorted order, so two processes writing at once lock them in the same order and
 * cannot deadlock. Both dialects speak the same `INSERT … ON CONFLICT (…) DO UPDATE SET x = t.x + excluded.x`. On
 * SQLite the batch goes through prepared statements of the driver's own (`sqlite-batch-writer.ts`), the same rows and
 * statements without Kysely building a query per batch, which cost more than SQLite's work.
 *
 * A settlement (`UsageRecord.kind`) is an event of its own, added to the roll-ups of its request (same dimensions,
 * same start time, so the same rows) as tokens and cost without a request: summed with its request, the row counts the
 * request once with its real figures. Written before its request's event (another instance's batch), a row may show
 * `unpriced_requests` at -1 until the request's event arrives.
 *
 * A request the prompt cache answered (`UsageRecord.cache`) counts in `cache_hits`, and the cost it saved in
 * `saved_cost_micro_usd`; one it looked up in vain in `cache_misses`. One whose figures are the gateway's estimate
 * (`UsageRecord.estimated`) counts in `estimated_requests`, and its cost in `estimated_cost_micro_usd` as well.
 *
 * Buckets are computed here from epoch ms (UTC hours and days are whole multiples of 3.6e6 and 8.64e7 ms), so no
 * query depends on either dialect's date functions. `summarize` reads the daily roll-up for the whole days of its
 * range and the hourly one for the hours at either end: a 30-day query reads 30 rows per combination, not 720, and
 * never reads raw events.
 */
import { sql, type Insertable, type Kysely, type RawBuilder, type Transaction } from 'kysely'
import { invalidRequest } from '../../core/errors.ts'
import type {
  SpendScope,
  UsageDimension,
  UsageQuery,
  UsageRecord,
  UsageRow,
  UsageStore,
} from '../usage-store.ts'
import { usageDimensions } from '../usage-store.ts'
import type { SqlDatabase } from './open-sql-database.ts'
import type { SqlSchema, UsageEventsTable, UsageRollupTable } from './sql-schema.ts'
import { createSqliteBatchWriter, type SqliteUpsert } from './sqlite-batch-writer.ts'
import { isStorableText, storableText, storableTextOrNull } from '../storable-text.ts'

const hourMs = 3_600_000
const dayMs = 86_400_000
/** The largest epoch ms a `Date` holds, a whole number of days: "no end" for a range. */
const endOfTime = 8_640_000_000_000_000

const floorTo = (time: number, unit: number): number => time - (((time % unit) + unit) % unit)
const ceilTo = (time: number, unit: number): number => floorTo(time + unit - 1, unit)

type RollupTable = 'usage_hourly' | 'usage_daily'
type Rollup = Insertable<UsageRollupTable>
type Metric = Exclude<keyof UsageRollupTable, DimensionColumn | 'bucket_start'>

const dimensionColumns = {
  tenant: 'tenant_id',
  key: 'key_id',
  model: 'model',
  provider: 'provider',
  user: 'user_id',
} as const satisfies Record<UsageDimension, keyof UsageRollupTable>
type DimensionColumn = (typeof dimensionColumns)[UsageDimension]
const allDimensionColumns = usageDimensions.map((dimension) => dimensionColumns[dimension])

/** The metrics that may be unknown: a `NULL` stays unknown only while every row of the sum is unknown. */
const unknowableMetrics = [
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'cost_micro_usd',
  'saved_cost_micro_usd',
  'estimated_cost_micro_usd',
] as const satisfies readonly Metric[]
const nullableMetrics = new Set<Metric>(unknowableMetrics)

/** Summed as they are. */
const metrics = [
  'requests',
  'errors',
  'client_aborted',
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'cost_micro_usd',
  'unpriced_requests',
  'latency_ms_total',
  'cache_hits',
  'cache_misses',
  'saved_cost_micro_usd',
  'estimated_requests',
  'estimated_cost_micro_usd',
] as const satisfies readonly Metric[]

// A column added to the roll-ups must be summed here too, or this stops compiling.
const everyMetricSummed: [Exclude<Metric, (typeof metrics)[number]>] extends [never]
  ? true
  : never = true
void everyMetricSummed

const cacheOutcomes = new Set<unknown>(['hit', 'miss', 'bypass', null])

/** Rows per statement: 28 event columns × 400 and 22 roll-up columns × 500 stay under SQLite's 32,766 parameters. */
const eventChunk = 400
const rollupChunk = 500
const pruneChunk = 5_000

const checkPrune = (olderThan: number, limit: number | undefined): void => {
  if (!Number.isSafeInteger(olderThan))
    throw invalidRequest('olderThan is epoch milliseconds, a whole number.', 'olderThan')
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1))
    throw invalidRequest('limit is a whole number of rows, at least 1.', 'limit')
}

/** Deletes slice after slice until one comes back smaller than a slice: nothing older is left. */
const pruneAll = async (slice: (size: number) => Promise<number>): Promise<number> => {
  let total = 0
  for (;;) {
    const deleted = await slice(pruneChunk)
    total += deleted
    if (deleted < pruneChunk) return total
  }
}

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const result: T[][] = []
  for (let index = 0; index < items.length; index += size)
    result.push(items.slice(index, index + size))
  return result
}

const plus = (left: number | null, right: number | null): number | null =>
  left === null ? right : right === null ? left : left + right

/** `value` is a whole number ≥ 0 (or `null`, when `nullable`); throws naming the record and the field otherwise. */
const checkInteger = (
  event: UsageRecord,
  field: keyof UsageRecord,
  value: unknown,
  nullable: boolean
): void => {
  if (value === null && nullable) return
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new TypeError(
      `usage record ${event.id}: ${field} is ${nullable ? 'a whole number ≥ 0 or null' : 'a whole number ≥ 0'}, got ${String(value)}`
    )
}

/**
 * A wrong value from a sink is a bug to see at once, not a row another backend would store differently. Each field
 * read by name (not `event[field]` in a loop): the usage writer runs this for every event.
 */
const checkRecord = (event: UsageRecord): void => {
  if (typeof event.id !== 'string' || event.id === '')
    throw new TypeError('a usage record needs an id')
  if (event.kind !== 'request' && event.kind !== 'settlement')
    throw new TypeError(
      `usage record ${event.id}: kind is 'request' or 'settlement', got ${String(event.kind)}`
    )
  checkInteger(event, 'time', event.time, false)
  checkInteger(event, 'attempts', event.attempts, false)
  checkInteger(event, 'status', event.status, false)
  checkInteger(event, 'latencyMs', event.latencyMs, false)
  checkInteger(event, 'ttfbMs', event.ttfbMs, true)
  checkInteger(event, 'inputTokens', event.inputTokens, true)
  checkInteger(event, 'outputTokens', event.outputTokens, true)
  checkInteger(event, 'cachedTokens', event.cachedTokens, true)
  checkInteger(event, 'cacheWriteTokens', event.cacheWriteTokens, true)
  checkInteger(event, 'reasoningTokens', event.reasoningTokens, true)
  checkInteger(event, 'costMicroUsd', event.costMicroUsd, true)
  if (!cacheOutcomes.has(event.cache))
    throw new TypeError(
      `usage record ${event.id}: cache is 'hit', 'miss', 'bypass' or null, got ${String(event.cache)}`
    )
  checkInteger(event, 'savedCostMicroUsd', event.savedCostMicroUsd, true)
  // A saving belongs to a hit: on any other event it would be summed into no hit's row.
  if (event.savedCostMicroUsd !== null && event.cache !== 'hit')
    throw new TypeError(
      `usage record ${event.id}: savedCostMicroUsd is for a cache hit only, got one with cache ${String(event.cache)}`
    )
  if (event.estimated !== undefined && typeof event.estimated !== 'boolean')
    throw new TypeError(
      `usage record ${event.id}: estimated is true or false, got ${String(event.estimated)}`
    )
}

/**
 * The record with its client-given text as every backend stores it (`storable-text.ts`): the record itself when all of
 * it is (nearly always), so a batch allocates nothing for the check.
 */
const isClean = (text: string | null): boolean => text === null || isStorableText(text)

const isStorableRecord = (event: UsageRecord): boolean => {
  if (
    !isClean(event.userId) ||
    !isClean(event.operation) ||
    !isClean(event.requestedModel) ||
    !isClean(event.provider) ||
    !isClean(event.model) ||
    !isClean(event.error)
  )
    return false
  for (const tag of event.tags) if (!isClean(tag)) return false
  return true
}

const storableRecord = (event: UsageRecord): UsageRecord => {
  if (isStorableRecord(event)) return event
  return {
    ...event,
    userId: storableTextOrNull(event.userId),
    tags: event.tags.map(storableText),
    operation: storableTextOrNull(event.operation),
    requestedModel: storableTextOrNull(event.requestedModel),
    provider: storableTextOrNull(event.provider),
    model: storableTextOrNull(event.model),
    error: storableTextOrNull(event.error),
  }
}

const eventRow = (event: UsageRecord): Insertable<UsageEventsTable> => ({
  id: event.id,
  kind: event.kind,
  time: event.time,
  request_id: event.requestId,
  tenant_id: event.tenantId,
  key_id: event.keyId,
  user_id: event.userId,
  tags: JSON.stringify(event.tags),
  operation: event.operation,
  requested_model: event.requestedModel,
  provider: event.provider,
  model: event.model,
  attempts: event.attempts,
  status: event.status,
  stream: event.stream ? 1 : 0,
  error: event.error,
  input_tokens: event.inputTokens,
  output_tokens: event.outputTokens,
  cached_tokens: event.cachedTokens,
  cache_write_tokens: event.cacheWriteTokens,
  reasoning_tokens: event.reasoningTokens,
  cost_micro_usd: event.costMicroUsd,
  latency_ms: event.latencyMs,
  ttfb_ms: event.ttfbMs,
  client_aborted: event.clientAborted ? 1 : 0,
  cache: event.cache,
  saved_cost_micro_usd: event.savedCostMicroUsd,
  estimated: event.estimated === true ? 1 : 0,
})

/** The columns of `eventValues`, in its order: `eventRow`'s, so the two write the same row. */
const eventColumns = [
  'id',
  'kind',
  'time',
  'request_id',
  'tenant_id',
  'key_id',
  'user_id',
  'tags',
  'operation',
  'requested_model',
  'provider',
  'model',
  'attempts',
  'status',
  'stream',
  'error',
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'cost_micro_usd',
  'latency_ms',
  'ttfb_ms',
  'client_aborted',
  'cache',
  'saved_cost_micro_usd',
  'estimated',
] as const satisfies readonly (keyof UsageEventsTable)[]

// A column added to the events table must be written by `eventValues` too, or this stops compiling.
const everyEventColumnWritten: [
  Exclude<keyof UsageEventsTable, (typeof eventColumns)[number]>,
] extends [never]
  ? true
  : never = true
void everyEventColumnWritten

/**
 * `eventRow` as the values of `eventColumns`, for SQLite's prepared statement: written out field by field, as the
 * usage writer builds one for every event (a row object read back by column name cost a keyed load per value).
 */
const eventValues = (event: UsageRecord): unknown[] => [
  event.id,
  event.kind,
  event.time,
  event.requestId,
  event.tenantId,
  event.keyId,
  event.userId,
  JSON.stringify(event.tags),
  event.operation,
  event.requestedModel,
  event.provider,
  event.model,
  event.attempts,
  event.status,
  event.stream ? 1 : 0,
  event.error,
  event.inputTokens,
  event.outputTokens,
  event.cachedTokens,
  event.cacheWriteTokens,
  event.reasoningTokens,
  event.costMicroUsd,
  event.latencyMs,
  event.ttfbMs,
  event.clientAborted ? 1 : 0,
  event.cache,
  event.savedCostMicroUsd,
  event.estimated === true ? 1 : 0,
]

/** Adds one event to its roll-up row. */
const addToRollup = (row: Rollup, event: UsageRecord): void => {
  // A settlement adds to its request's row what the request learned late: no request, no latency, and a cost that
  // is no longer unknown.
  const settlement = event.kind === 'settlement'
  if (!settlement) {
    row.requests += 1
    row.latency_ms_total += event.latencyMs
    if (event.costMicroUsd === null) row.unpriced_requests += 1
    if (event.cache === 'hit') {
      row.cache_hits += 1
      row.saved_cost_micro_usd = plus(row.saved_cost_micro_usd ?? null, event.savedCostMicroUsd)
    } else if (event.cache === 'miss') row.cache_misses += 1
  } else if (event.costMicroUsd !== null) row.unpriced_requests -= 1
  // A client that went away is `client_aborted`, not an error of the gateway's or the upstream's.
  if (!event.clientAborted && (event.status >= 400 || event.error !== null)) row.errors += 1
  if (event.clientAborted) row.client_aborted += 1
  row.input_tokens = plus(row.input_tokens ?? null, event.inputTokens)
  row.output_tokens = plus(row.output_tokens ?? null, event.outputTokens)
  row.cached_tokens = plus(row.cached_tokens ?? null, event.cachedTokens)
  row.cache_write_tokens = plus(row.cache_write_tokens ?? null, event.cacheWriteTokens)
  row.reasoning_tokens = plus(row.reasoning_tokens ?? null, event.reasoningTokens)
  row.cost_micro_usd = plus(row.cost_micro_usd ?? null, event.costMicroUsd)
  if (event.estimated === true) {
    row.estimated_requests += 1
    row.estimated_cost_micro_usd = plus(row.estimated_cost_micro_usd ?? null, event.costMicroUsd)
  }
}

/** The events' roll-up rows for buckets of `unit`, one per combination, in the order they are written. */
const rollUp = (events: readonly UsageRecord[], unit: number): Rollup[] => {
  const rows = new Map<string, Rollup>()
  // The row of the event before, and that event: a batch is mostly runs of one key's calls to one model, whose
  // events share a row, found by comparing five fields instead of building and hashing the row's key.
  let row: Rollup | undefined
  let previous: UsageRecord | undefined
  for (const event of events) {
    const bucket = floorTo(event.time, unit)
    if (
      row !== undefined &&
      previous !== undefined &&
      bucket === row.bucket_start &&
      event.tenantId === previous.tenantId &&
      event.keyId === previous.keyId &&
      event.model === previous.model &&
      event.provider === previous.provider &&
      event.userId === previous.userId
    ) {
      addToRollup(row, event)
      continue
    }
    previous = event
    const dimensions = [
      event.tenantId ?? '',
      event.keyId ?? '',
      event.model ?? '',
      event.provider ?? '',
      event.userId ?? '',
    ] as const
    // Length-prefixed, so that no two combinations share a key (any text may hold any separator).
    const id = `${bucket}|${dimensions[0].length}:${dimensions[0]}|${dimensions[1].length}:${dimensions[1]}|${dimensions[2].length}:${dimensions[2]}|${dimensions[3].length}:${dimensions[3]}|${dimensions[4].length}:${dimensions[4]}`
    row = rows.get(id)
    if (row === undefined) {
      row = {
        bucket_start: bucket,
        tenant_id: dimensions[0],
        key_id: dimensions[1],
        model: dimensions[2],
        provider: dimensions[3],
        user_id: dimensions[4],
        requests: 0,
        errors: 0,
        client_aborted: 0,
        input_tokens: null,
        output_tokens: null,
        cached_tokens: null,
        cache_write_tokens: null,
        reasoning_tokens: null,
        cost_micro_usd: null,
        unpriced_requests: 0,
        latency_ms_total: 0,
        cache_hits: 0,
        cache_misses: 0,
        saved_cost_micro_usd: null,
        estimated_requests: 0,
        estimated_cost_micro_usd: null,
      }
      rows.set(id, row)
    }
    addToRollup(row, event)
  }
  // Sorted by the unique key (code-unit order, the same in every process): the lock order of the upsert.
  return [...rows.entries()]
    .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))
    .map(([, row]) => row)
}

const upsertRollups = async (
  trx: Transaction<SqlSchema>,
  table: RollupTable,
  rows: readonly Rollup[]
): Promise<void> => {
  for (const chunk of chunks(rows, rollupChunk)) {
    await trx
      .insertInto(table)
      .values(chunk)
      .onConflict((conflict) =>
        conflict.columns(['bucket_start', ...allDimensionColumns]).doUpdateSet(
          Object.fromEntries(
            metrics.map((metric) => {
              const current = sql.ref(`${table}.${metric}`)
              const added = sql.ref(`excluded.${metric}`)
              return [
                metric,
                nullableMetrics.has(metric)
                  ? sql`coalesce(${current} + ${added}, ${current}, ${added})`
                  : sql`${current} + ${added}`,
              ]
            })
          )
        )
      )
      .execute()
  }
}

type Part = { table: RollupTable; from: number; to: number }

/**
 * The roll-up reads that cover `[from, to)`: with hourly buckets, the hourly table; otherwise the daily table for
 * the whole days, and the hourly one for the hours before the first and after the last.
 */
const planParts = (from: number, to: number, hourly: boolean): Part[] => {
  if (hourly) return [{ table: 'usage_hourly', from, to }]
  const firstDay = ceilTo(from, dayMs)
  const lastDay = floorTo(to, dayMs)
  if (firstDay >= lastDay) return [{ table: 'usage_hourly', from, to }]
  const parts: Part[] = []
  if (from < firstDay) parts.push({ table: 'usage_hourly', from, to: firstDay })
  parts.push({ table: 'usage_daily', from: firstDay, to: lastDay })
  if (lastDay < to) parts.push({ table: 'usage_hourly', from: lastDay, to })
  return parts
}

const filterColumns = {
  tenantId: 'tenant_id',
  keyId: 'key_id',
  userId: 'user_id',
  model: 'model',
  provider: 'provider',
} as const satisfies Partial<Record<keyof UsageQuery, DimensionColumn>>

const compareRows = (groupColumns: readonly string[]) => (left: UsageRow, right: UsageRow) => {
  const order = (left.bucket_start ?? 0) - (right.bucket_start ?? 0)
  if (order !== 0) return order
  for (const column of groupColumns) {
    const a = (left as Record<string, unknown>)[column] as string | null
    const b = (right as Record<string, unknown>)[column] as string | null
    if (a === b) continue
    if (a === null) return -1
    if (b === null) return 1
    return a < b ? -1 : 1
  }
  return 0
}

/** `set metric = …` of a roll-up upsert: unknown stays unknown only while every part of the sum is. */
const addMetric = (metric: string, current: string, added: string): string =>
  nullableMetrics.has(metric as Metric)
    ? `coalesce(${current} + ${added}, ${current}, ${added})`
    : `${current} + ${added}`

export const createSqlUsageStore = (options: { database: SqlDatabase }): UsageStore => {
  const { db } = options.database
  const sqliteWriter =
    options.database.sqlite === undefined ? null : createSqliteBatchWriter(options.database.sqlite)

  const summarize = async (query: UsageQuery): Promise<UsageRow[]> => {
    if (!Number.isSafeInteger(query.from) || !Number.isSafeInteger(query.to))
      throw invalidRequest('A usage range is epoch milliseconds, whole numbers.', 'from')
    const groupBy = [...new Set(query.groupBy ?? [])]
    for (const dimension of groupBy)
      if (!usageDimensions.includes(dimension))
        throw invalidRequest(
          `Usage groups by ${usageDimensions.join(', ')}, not ${String(dimension)}.`,
          'groupBy'
        )
    const granularity = query.granularity ?? null
    const from = floorTo(query.from, hourMs)
    const to = Math.min(ceilTo(query.to, hourMs), endOfTime)
    if (from >= to) return []

    const parts = planParts(from, to, granularity === 'hour').map(({ table, from, to }) => {
      let part = (db as Kysely<SqlSchema>)
        .selectFrom(table)
        .selectAll()
        .where('bucket_start', '>=', from)
        .where('bucket_start', '<', to)
      for (const [field, column] of Object.entries(filterColumns)) {
        const value = query[field as keyof typeof filterColumns]
        if (value !== undefined) part = part.where(column, '=', storableText(value))
      }
      return part
    })
    const union = parts.slice(1).reduce((all, part) => all.unionAll(part), parts[0])

    const groupColumns = groupBy.map((dimension) => dimensionColumns[dimension])
    // Literal units: PostgreSQL matches a grouped expression to the selected one only when they are written alike.
    const bucket: RawBuilder<number> | null =
      granularity === 'hour'
        ? sql<number>`u.bucket_start`
        : granularity === 'day'
          ? sql<number>`u.bucket_start - (u.bucket_start % ${sql.lit(dayMs)})`
          : null
    const selections: RawBuilder<unknown>[] = [
      ...(bucket === null ? [] : [sql`${bucket} as bucket_start`]),
      ...groupColumns.map((column) => sql`${sql.ref(`u.${column}`)} as ${sql.ref(column)}`),
      // `cast(… as bigint)`: PostgreSQL sums a bigint as numeric, which `pg` returns as text.
      ...metrics.map(
        (metric) => sql`cast(sum(${sql.ref(`u.${metric}`)}) as bigint) as ${sql.ref(metric)}`
      ),
    ]
    const grouping = [
      ...(bucket === null ? [] : [bucket]),
      ...groupColumns.map((column) => sql.ref(`u.${column}`)),
    ]
    const result = await sql<Record<string, number | string | null>>`
      select ${sql.join(selections)}
      from (${union}) as u
      ${grouping.length === 0 ? sql`` : sql`group by ${sql.join(grouping)}`}
    `.execute(db)

    const rows = result.rows
      // With no grouping, an empty range still sums to one row of nulls: no row is the honest answer.
      .filter((row) => row.requests !== null)
      .map((raw) => {
        const row: Record<string, unknown> = {}
        if (bucket !== null) row.bucket_start = Number(raw.bucket_start)
        for (const column of groupColumns) row[column] = raw[column] === '' ? null : raw[column]
        for (const metric of metrics) {
          const value = raw[metric]
          row[metric] = value === null ? (nullableMetrics.has(metric) ? null : 0) : Number(value)
        }
        return row as UsageRow
      })
    return rows.sort(compareRows(groupColumns))
  }

  return {
    async record(given) {
      if (given.length === 0) return
      given.forEach(checkRecord)
      const events = given.map(storableRecord)
      if (sqliteWriter !== null) {
        const upsert = (table: RollupTable, rows: readonly Rollup[]): SqliteUpsert => ({
          table,
          conflictColumns: ['bucket_start', ...allDimensionColumns],
          update: addMetric,
          rows,
        })
        await db.connection().execute(async () =>
          sqliteWriter.write({
            insertNew: {
              table: 'usage_events',
              columns: eventColumns,
              rows: events.map(eventValues),
            },
            upserts: (freshIndexes) => {
              const fresh = freshIndexes.map((index) => events[index])
              return [
                upsert('usage_hourly', rollUp(fresh, hourMs)),
                upsert('usage_daily', rollUp(fresh, dayMs)),
              ]
            },
          })
        )
        return
      }
      await db.transaction().execute(async (trx) => {
        const inserted = new Set<string>()
        for (const chunk of chunks(events, eventChunk)) {
          const rows = await trx
            .insertInto('usage_events')
            .values(chunk.map(eventRow))
            .onConflict((conflict) => conflict.column('id').doNothing())
            .returning('id')
            .execute()
          for (const row of rows) inserted.add(row.id)
        }
        // Each newly stored event once: a batch may repeat an id, and ids stored before are skipped.
        const fresh = events.filter((event) => inserted.delete(event.id))
        if (fresh.length === 0) return
        await upsertRollups(trx, 'usage_hourly', rollUp(fresh, hourMs))
        await upsertRollups(trx, 'usage_daily', rollUp(fresh, dayMs))
      })
    },

    summarize,

    async spent(scope: SpendScope, since: number) {
      const [row] = await summarize({ from: since, to: endOfTime, ...scope })
      return row?.cost_micro_usd ?? 0
    },

    async pruneEvents(olderThan, limit) {
      checkPrune(olderThan, limit)
      // `id in (…limit n)`: a slice at a time, so neither dialect holds one long transaction (and its locks) over
      // millions of rows; each slice reads the time index and deletes by primary key.
      const slice = async (size: number): Promise<number> => {
        const result = await db
          .deleteFrom('usage_events')
          .where('id', 'in', (eb) =>
            eb.selectFrom('usage_events').select('id').where('time', '<', olderThan).limit(size)
          )
          .executeTakeFirst()
        return Number(result.numDeletedRows)
      }
      return limit === undefined ? pruneAll(slice) : slice(limit)
    },

    async pruneHourlyRollups(olderThan, limit) {
      checkPrune(olderThan, limit)
      // Whole hours at a time, oldest first: the hour of the `size`-th oldest row bounds the slice, so each delete is
      // a range on the primary key's leading column (a row-value `in` over six columns is a table scan in SQLite).
      const slice = async (size: number): Promise<number> => {
        const bound = await db
          .selectFrom('usage_hourly')
          .select('bucket_start')
          .where('bucket_start', '<', olderThan)
          .orderBy('bucket_start')
          .offset(size - 1)
          .limit(1)
          .executeTakeFirst()
        let query = db.deleteFrom('usage_hourly').where('bucket_start', '<', olderThan)
        if (bound !== undefined)
          query = query.where('bucket_start', '<=', Number(bound.bucket_start))
        const result = await query.executeTakeFirst()
        return Number(result.numDeletedRows)
      }
      return limit === undefined ? pruneAll(slice) : slice(limit)
    },
  }
}
