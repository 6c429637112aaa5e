/**
 * The schema's versions, in code: a static list the Migrator reads, so migrations ship inside `dist/` and any bundle
 * (Kysely's `FileMigrationProvider` reads a folder at run time, which a bundle does not have). Names sort in the
 * order they apply; a migration, once released, never changes: a change is a new one.
 */
import type { CreateTableBuilder, Migration } from 'kysely'
import type { SqlDialectName } from './open-sql-database.ts'

/** Per dialect where the column types differ: `jsonb` where PostgreSQL has it, JSON text in SQLite. */
const columnTypes = (dialect: SqlDialectName) => ({
  json: dialect === 'postgres' ? ('jsonb' as const) : ('text' as const),
})

/** The settings tenants and keys share (see `AccessSettings` in `tenant-store.ts`). */
const addAccessColumns = (
  table: CreateTableBuilder<string, string>,
  json: 'jsonb' | 'text'
): CreateTableBuilder<string, string> =>
  table
    .addColumn('allowed_models', json)
    .addColumn('rpm', 'bigint')
    .addColumn('tpm', 'bigint')
    .addColumn('concurrency', 'bigint')
    .addColumn('budget_micro_usd', 'bigint')
    .addColumn('budget_period', 'text')
    .addColumn('metadata', json, (column) => column.notNull())

const tenantsAndKeys = (dialect: SqlDialectName): Migration => ({
  async up(db) {
    const { json } = columnTypes(dialect)
    await addAccessColumns(
      db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('name', 'text', (column) => column.notNull().unique()),
      json
    )
      .addColumn('disabled_at', 'bigint')
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addColumn('updated_at', 'bigint', (column) => column.notNull())
      .execute()

    await addAccessColumns(
      db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('tenant_id', 'text', (column) => column.notNull().references('tenants.id'))
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('display_prefix', 'text', (column) => column.notNull()),
      json
    )
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addColumn('updated_at', 'bigint', (column) => column.notNull())
      .execute()
    await db.schema
      .createIndex('api_keys_tenant_id')
      .on('api_keys')
      .columns(['tenant_id', 'created_at'])
      .execute()

    await db.schema
      .createTable('api_key_secrets')
      .addColumn('hash', 'text', (column) => column.primaryKey())
      .addColumn('key_id', 'text', (column) =>
        column.notNull().references('api_keys.id').onDelete('cascade')
      )
      .addColumn('display_prefix', 'text', (column) => column.notNull())
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addColumn('expires_at', 'bigint')
      .execute()
    await db.schema
      .createIndex('api_key_secrets_key_id')
      .on('api_key_secrets')
      .column('key_id')
      .execute()
  },
  async down(db) {
    await db.schema.dropTable('api_key_secrets').execute()
    await db.schema.dropTable('api_keys').execute()
    await db.schema.dropTable('tenants').execute()
  },
})

const rollupTables = ['usage_hourly', 'usage_daily'] as const

const usage = (dialect: SqlDialectName): Migration => ({
  async up(db) {
    const { json } = columnTypes(dialect)
    await db.schema
      .createTable('usage_events')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('time', 'bigint', (column) => column.notNull())
      .addColumn('request_id', 'text', (column) => column.notNull())
      .addColumn('tenant_id', 'text')
      .addColumn('key_id', 'text')
      .addColumn('user_id', 'text')
      .addColumn('tags', json, (column) => column.notNull())
      .addColumn('operation', 'text')
      .addColumn('requested_model', 'text')
      .addColumn('provider', 'text')
      .addColumn('model', 'text')
      .addColumn('attempts', 'integer', (column) => column.notNull())
      .addColumn('status', 'integer', (column) => column.notNull())
      .addColumn('stream', 'integer', (column) => column.notNull())
      .addColumn('error', 'text')
      .addColumn('input_tokens', 'bigint')
      .addColumn('output_tokens', 'bigint')
      .addColumn('cached_tokens', 'bigint')
      .addColumn('cache_write_tokens', 'bigint')
      .addColumn('reasoning_tokens', 'bigint')
      .addColumn('cost_micro_usd', 'bigint')
      .addColumn('latency_ms', 'bigint', (column) => column.notNull())
      .addColumn('ttfb_ms', 'bigint')
      .addColumn('client_aborted', 'integer', (column) => column.notNull())
      .execute()
    // Retention deletes by time; nothing else reads raw events in bulk.
    await db.schema.createIndex('usage_events_time').on('usage_events').column('time').execute()

    for (const table of rollupTables) {
      await db.schema
        .createTable(table)
        .addColumn('bucket_start', 'bigint', (column) => column.notNull())
        .addColumn('tenant_id', 'text', (column) => column.notNull())
        .addColumn('key_id', 'text', (column) => column.notNull())
        .addColumn('model', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('requests', 'bigint', (column) => column.notNull())
        .addColumn('errors', 'bigint', (column) => column.notNull())
        .addColumn('client_aborted', 'bigint', (column) => column.notNull())
        .addColumn('input_tokens', 'bigint')
        .addColumn('output_tokens', 'bigint')
        .addColumn('cached_tokens', 'bigint')
        .addColumn('cache_write_tokens', 'bigint')
        .addColumn('reasoning_tokens', 'bigint')
        .addColumn('cost_micro_usd', 'bigint')
        .addColumn('unpriced_requests', 'bigint', (column) => column.notNull())
        .addColumn('latency_ms_total', 'bigint', (column) => column.notNull())
        // The upsert's conflict target, and the index a query over a time range for everyone reads.
        .addPrimaryKeyConstraint(`${table}_pkey`, [
          'bucket_start',
          'tenant_id',
          'key_id',
          'model',
          'provider',
          'user_id',
        ])
        .execute()
      // A tenant's or a key's usage over a range (its dashboard, its budget's spend).
      await db.schema
        .createIndex(`${table}_tenant`)
        .on(table)
        .columns(['tenant_id', 'bucket_start'])
        .execute()
      await db.schema
        .createIndex(`${table}_key`)
        .on(table)
        .columns(['key_id', 'bucket_start'])
        .execute()
    }
  },
  async down(db) {
    for (const table of rollupTables) await db.schema.dropTable(table).execute()
    await db.schema.dropTable('usage_events').execute()
  },
})

/**
 * Stored Responses API responses (`response-store.ts`) and the items `item_reference` resolves. The JSON columns are
 * `text` in both dialects: they are kept and given back whole, never queried into, and `jsonb` would parse a
 * megabyte of context on every write, reorder its keys, and refuse a `\u0000` escape in a model's text.
 */
const responses: Migration = {
  async up(db) {
    await db.schema
      .createTable('responses')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text')
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('model', 'text', (column) => column.notNull())
      .addColumn('provider', 'text')
      .addColumn('response', 'text', (column) => column.notNull())
      .addColumn('input', 'text', (column) => column.notNull())
      .addColumn('context', 'text', (column) => column.notNull())
      .execute()
    // Retention deletes by expiry.
    await db.schema
      .createIndex('responses_expires_at')
      .on('responses')
      .column('expires_at')
      .execute()

    // One row per (response, item): the same item id can be in several responses (an output item replayed as the
    // next input), each response keeping its copy until it goes. Scope and expiry are copied from the response, so
    // a lookup is one read of the (tenant_id, item_id) index, with no join.
    await db.schema
      .createTable('response_items')
      .addColumn('response_id', 'text', (column) =>
        column.notNull().references('responses.id').onDelete('cascade')
      )
      .addColumn('item_id', 'text', (column) => column.notNull())
      .addColumn('tenant_id', 'text')
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('item', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('response_items_pkey', ['response_id', 'item_id'])
      .execute()
    await db.schema
      .createIndex('response_items_tenant_item')
      .on('response_items')
      .columns(['tenant_id', 'item_id'])
      .execute()
  },
  async down(db) {
    await db.schema.dropTable('response_items').execute()
    await db.schema.dropTable('responses').execute()
  },
}

/**
 * Background responses' usage, learned after their create (`response-store.ts`: `pendingUsage`, `claimSettlement`,
 * `takeDuePolls`): the pending usage, the poll time pollers take turns by, and when the settlement was claimed; the
 * poll time indexed, since pollers ask for the due ones. Usage events get their kind: a settlement's event adds the
 * tokens and cost to its request's roll-ups without counting a request again (`sql-usage-store.ts`).
 */
const backgroundUsage: Migration = {
  async up(db) {
    await db.schema.alterTable('responses').addColumn('pending_usage', 'text').execute()
    await db.schema.alterTable('responses').addColumn('poll_at', 'bigint').execute()
    await db.schema.alterTable('responses').addColumn('settled_at', 'bigint').execute()
    await db.schema.createIndex('responses_poll_at').on('responses').column('poll_at').execute()
    await db.schema
      .alterTable('usage_events')
      .addColumn('kind', 'text', (column) => column.notNull().defaultTo('request'))
      .execute()
  },
  async down(db) {
    await db.schema.alterTable('usage_events').dropColumn('kind').execute()
    await db.schema.dropIndex('responses_poll_at').execute()
    await db.schema.alterTable('responses').dropColumn('settled_at').execute()
    await db.schema.alterTable('responses').dropColumn('poll_at').execute()
    await db.schema.alterTable('responses').dropColumn('pending_usage').execute()
  },
}

/**
 * The prompt cache in usage: each event's `cache` outcome and, for a hit, the cost it saved; each roll-up row's hits,
 * misses and summed savings. Added columns only, each `NULL` or with a constant default: neither dialect rewrites a
 * table for that (PostgreSQL 11+ keeps the default in the catalogue, SQLite in the schema), so this is quick on a
 * large usage history, and the rows already there read as no hit, no miss and no known saving, which they were.
 */
const promptCacheUsage: Migration = {
  async up(db) {
    // One column per statement: SQLite's `ALTER TABLE` adds one at a time.
    await db.schema.alterTable('usage_events').addColumn('cache', 'text').execute()
    await db.schema.alterTable('usage_events').addColumn('saved_cost_micro_usd', 'bigint').execute()
    for (const table of rollupTables) {
      await db.schema
        .alterTable(table)
        .addColumn('cache_hits', 'bigint', (column) => column.notNull().defaultTo(0))
        .execute()
      await db.schema
        .alterTable(table)
        .addColumn('cache_misses', 'bigint', (column) => column.notNull().defaultTo(0))
        .execute()
      await db.schema.alterTable(table).addColumn('saved_cost_micro_usd', 'bigint').execute()
    }
  },
  async down(db) {
    for (const table of rollupTables)
      for (const column of ['saved_cost_micro_usd', 'cache_misses', 'cache_hits'])
        await db.schema.alterTable(table).dropColumn(column).execute()
    await db.schema.alterTable('usage_events').dropColumn('saved_cost_micro_usd').execute()
    await db.schema.alterTable('usage_events').dropColumn('cache').execute()
  },
}

/**
 * Estimated usage (`UsageRecord.estimated`): each event says whether its tokens and cost are the gateway's estimate
 * (a stream cut before the upstream reported its usage, counted from what passed; or the budget's charge when nothing
 * could be counted), and each roll-up row counts those requests and sums their part of the cost. Added columns only,
 * each `NULL` or with a constant default, as `promptCacheUsage` (quick on a large history); rows already there read as
 * reported, which is what they were counted as.
 */
const estimatedUsage: Migration = {
  async up(db) {
    await db.schema
      .alterTable('usage_events')
      .addColumn('estimated', 'bigint', (column) => column.notNull().defaultTo(0))
      .execute()
    for (const table of rollupTables) {
      await db.schema
        .alterTable(table)
        .addColumn('estimated_requests', 'bigint', (column) => column.notNull().defaultTo(0))
        .execute()
      await db.schema.alterTable(table).addColumn('estimated_cost_micro_usd', 'bigint').execute()
    }
  },
  async down(db) {
    for (const table of rollupTables)
      for (const column of ['estimated_cost_micro_usd', 'estimated_requests'])
        await db.schema.alterTable(table).dropColumn(column).execute()
    await db.schema.alterTable('usage_events').dropColumn('estimated').execute()
  },
}

/**
 * The model versions an operator activated (`model-version-store.ts`), so an activation outlives a restart and
 * reaches every process on the database: one small row per (provider, model).
 */
const modelActivations: Migration = {
  async up(db) {
    await db.schema
      .createTable('model_activations')
      .addColumn('provider', 'text', (column) => column.notNull())
      .addColumn('model', 'text', (column) => column.notNull())
      .addColumn('version', 'text', (column) => column.notNull())
      .addColumn('activated_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('model_activations_pkey', ['provider', 'model'])
      .execute()
  },
  async down(db) {
    await db.schema.dropTable('model_activations').execute()
  },
}

/** Every migration, by name, for `dialect`. */
export const sqlMigrations = (dialect: SqlDialectName): Record<string, Migration> => ({
  '0001_tenants_and_keys': tenantsAndKeys(dialect),
  '0002_usage': usage(dialect),
  '0003_responses': responses,
  '0004_background_usage': backgroundUsage,
  '0005_prompt_cache_usage': promptCacheUsage,
  '0006_model_activations': modelActivations,
  '0007_estimated_usage': estimatedUsage,
})
