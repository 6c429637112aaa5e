/**
 * The stores the gateway keeps state in, one narrow interface each, with one implementation per backend
 * (`src/stores/memory|sql|redis/`). Each backend gets its client and clock through its constructor; the core and the
 * routes see only these interfaces, and `test/contract/` runs every implementation through the same cases.
 *
 * Each is optional: a runtime without a database (Workers) has no tenants and no usage store, and serves in
 * master-key mode. On Node all are present: tenants, usage and stored responses in SQL (SQLite or PostgreSQL), rate
 * limits and budgets (`admission`) and revocations in Redis when `REDIS_URL` is set, in the process otherwise. The prompt
 * cache's `cache` is there only when the cache is on somewhere (config `cache`), in the process or in Redis.
 */
import type { AdmissionStore } from './admission-store.ts'
import type { CacheStore } from './cache-store.ts'
import type { ModelVersionStore } from './model-version-store.ts'
import type { ResponseStore } from './response-store.ts'
import type { RevocationFeed } from './revocation-feed.ts'
import type { TenantStore } from './tenant-store.ts'
import type { UsageStore } from './usage-store.ts'

export type Stores = {
  tenants?: TenantStore
  usage?: UsageStore
  /** Rate limits and budgets of tenant keys, taken and settled together. */
  admission?: AdmissionStore
  revocations?: RevocationFeed
  /** Responses API responses the gateway built itself, kept for chaining, retrieval and `input_items`. */
  responses?: ResponseStore
  /** The prompt cache's answers (`core/cache/`), present only when the cache is on for some route. */
  cache?: CacheStore
  /** The model versions an operator activated (the local model's), kept across restarts and processes. */
  modelVersions?: ModelVersionStore
}

/** Something held open for the process's life (a store's connection, a pool, worker threads), closed at shutdown. */
export type Closable = {
  /** For the shutdown log: `usage sink`, `providers`, `redis`. */
  name: string
  close(): Promise<void>
}
