/**
 * The prompt cache's store: answers by cache key (a SHA-256 hex of the canonical request, `core/cache/cache-key.ts`),
 * each with its own lifetime, and purges by key, by tenant, by model or all at once. Values are opaque text (the
 * prompt cache's JSON); a store may compress them, never change them. Backends: memory (an LRU bounded by bytes, per
 * process) and Redis (shared, a key prefix per deployment).
 *
 * A store that cannot answer in time (Redis down or slow) answers `get` with `null` and drops a `set`: the request
 * goes upstream, and the outage is logged once (`RedisGuard`). A purge that cannot be done throws (a 503).
 */

/** What an entry is filed under, beside its key, so that it can be purged with others. */
export type CacheEntryLabels = {
  /** The tenant whose scope the entry is in; `null` for the master key's and for routes shared across tenants. */
  tenant: string | null
  /** `provider/model` that gave the answer. */
  model: string
}

export type CachedValue = {
  value: string
  /** How long ago it was stored, in ms. */
  ageMs: number
}

export type CachePurge = { key: string } | { tenant: string } | { model: string } | { all: true }

export interface CacheStore {
  /** The value under `key`, or `null` when there is none (never stored, expired, purged, evicted). */
  get(key: string): Promise<CachedValue | null>
  /** Stores `value` under `key` for `ttlMs`, replacing what was there. */
  set(key: string, value: string, options: CacheEntryLabels & { ttlMs: number }): Promise<void>
  /** Removes the entries selected; resolves with how many there were. */
  delete(purge: CachePurge): Promise<number>
}
