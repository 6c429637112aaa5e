/**
 * The tables the SQL stores use, as Kysely sees them (the migrations in `sql-migrations.ts` create them). Times are
 * epoch milliseconds in `bigint` columns: the same number in both dialects, compared and bucketed with integer
 * arithmetic, where timestamp types and date functions differ between SQLite and PostgreSQL. Money is integer
 * micro-USD. Booleans are 0/1 integers (SQLite has no boolean, and better-sqlite3 does not bind one).
 */
import type { ColumnType } from 'kysely'

/** Written as JSON text; read back as text (SQLite) or already parsed (`jsonb` on PostgreSQL): `readJsonColumn`. */
export type JsonColumn = ColumnType<unknown, string, string>

/** Settings tenants and keys share. */
type AccessColumns = {
  allowed_models: ColumnType<unknown, string | null, string | null>
  rpm: number | null
  tpm: number | null
  concurrency: number | null
  budget_micro_usd: number | null
  budget_period: string | null
  metadata: JsonColumn
}

export type TenantsTable = AccessColumns & {
  id: string
  name: string
  disabled_at: number | null
  created_at: number
  updated_at: number
}

export type ApiKeysTable = AccessColumns & {
  id: string
  tenant_id: string
  name: string
  /** The current secret's, copied here so a lookup by hash reads one row of each table. */
  display_prefix: string
  expires_at: number | null
  revoked_at: number | null
  created_at: number
  updated_at: number
}

export type ApiKeySecretsTable = {
  /** SHA-256 of the secret, 64 lowercase hex digits. */
  hash: string
  key_id: string
  display_prefix: string
  created_at: number
  expires_at: number | null
}

/** What a provider reports (and a price makes of it): `NULL` when unknown, in an event as in a roll-up's sum. */
type TokenAndCostColumns = {
  input_tokens: number | null
  output_tokens: number | null
  cached_tokens: number | null
  cache_write_tokens: number | null
  reasoning_tokens: number | null
  cost_micro_usd: number | null
}

export type UsageEventsTable = TokenAndCostColumns & {
  id: string
  /** `request`, or `settlement`: the tokens and cost of a background response, learned after its request's event. */
  kind: ColumnType<string, string | undefined, string>
  time: number
  request_id: string
  tenant_id: string | null
  key_id: string | null
  user_id: string | null
  tags: JsonColumn
  operation: string | null
  requested_model: string | null
  provider: string | null
  model: string | null
  attempts: number
  status: number
  stream: number
  error: string | null
  latency_ms: number
  ttfb_ms: number | null
  client_aborted: number
  /** What the prompt cache did: `hit`, `miss`, `bypass`; `NULL` when it was off (and in events stored before it was). */
  cache: string | null
  /** For a hit: the provider cost its answer saved (micro-USD); `NULL` otherwise, or when unknown. */
  saved_cost_micro_usd: number | null
  /** 1 when the tokens and cost are the gateway's estimate (`UsageRecord.estimated`); 0 in rows stored before. */
  estimated: number
}

/**
 * One row per bucket and combination of tenant, key, model, provider and user. The dimension columns hold `''` for
 * "none" rather than `NULL`: the upsert's conflict target is their unique key, and both SQLite and PostgreSQL (before
 * 15's `NULLS NOT DISTINCT`) treat every `NULL` as distinct there, so rows with a `NULL` would never merge.
 */
export type UsageRollupTable = TokenAndCostColumns & {
  bucket_start: number
  tenant_id: string
  key_id: string
  model: string
  provider: string
  user_id: string
  requests: number
  errors: number
  client_aborted: number
  unpriced_requests: number
  latency_ms_total: number
  /** Requests the prompt cache answered, and those it missed; 0 in rows written before it counted them. */
  cache_hits: number
  cache_misses: number
  /** The hits' known savings summed; `NULL` while no hit of the row had one. */
  saved_cost_micro_usd: number | null
  /** Requests whose figures are the gateway's estimate, and the part of `cost_micro_usd` they make up. */
  estimated_requests: number
  estimated_cost_micro_usd: number | null
}

/** A stored response (`response-store.ts`); `tenant_id` `NULL` for the master key, JSON kept as text. */
export type ResponsesTable = {
  id: string
  tenant_id: string | null
  created_at: number
  expires_at: number | null
  model: string
  provider: string | null
  response: string
  input: string
  context: string
  /** `PendingUsage` as JSON, for a background response that owed usage; kept after its settlement. */
  pending_usage: ColumnType<string | null, string | null | undefined, string | null>
  /** When pollers may next take it; `NULL`: never (settled, given up, or nothing owed). */
  poll_at: ColumnType<number | null, number | null | undefined, number | null>
  /** When its settlement was claimed; `NULL` while it owes usage. */
  settled_at: ColumnType<number | null, number | null | undefined, number | null>
}

/** One item of a stored response that `item_reference` can name, with its response's scope and expiry. */
export type ResponseItemsTable = {
  response_id: string
  item_id: string
  tenant_id: string | null
  created_at: number
  expires_at: number | null
  item: string
}

/** A model version an operator activated (`model-version-store.ts`): one row per provider and model. */
export type ModelActivationsTable = {
  provider: string
  model: string
  version: string
  activated_at: number
}

export type SqlSchema = {
  tenants: TenantsTable
  api_keys: ApiKeysTable
  api_key_secrets: ApiKeySecretsTable
  usage_events: UsageEventsTable
  usage_hourly: UsageRollupTable
  usage_daily: UsageRollupTable
  responses: ResponsesTable
  response_items: ResponseItemsTable
  model_activations: ModelActivationsTable
}
