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
  /**
   * Where a reader keeps what it derives from this very value (the prompt cache: the parsed answer, its encodings),
   * so that the next read of it need not derive it again: the same object for every read of the same stored value in
   * this process, for as long as the store keeps it here, and a new one for a new value. Absent where the store keeps
   * none. A reader adds to it and never changes what it derived, which every later read shares.
   */
  memo?: CacheMemo
}

/** A reader's slot beside a stored value (`CachedValue.memo`). */
export type CacheMemo = { derived?: unknown }

export type CachePurge = { key: string } | { tenant: string } | { model: string } | { all: true }

/**
 * Single-flight across the processes that share a cache store (Redis): the first process to miss a key claims its
 * lead for a while (a lease) and relays what its call gives as it comes (opaque texts: the prompt cache's JSON of who
 * answers, each chunk, then the whole answer); the others, instead of going upstream too, are fed that relay. Anything
 * that goes wrong (the store out of reach, a leader that dies or falls silent, a wait past its bound) ends a follower's
 * feed with nothing, and it goes upstream itself: never an error, never a wait past its bounds.
 */
export interface SharedFlights {
  /**
   * Claims the lead of `key` for `leaseMs`: `true` when this process leads now, `false` when another one does. A store
   * that cannot answer in time answers `true` (the request goes upstream).
   */
  claim(key: string, leaseMs: number): Promise<boolean>
  /**
   * The relay of a lead this process claimed: each message renews the lead for `renewMs` (a live leader keeps it, a
   * dead one loses it soon); its `end` ends the lead.
   */
  lead(key: string, renewMs: number): FlightRelay
  /**
   * Feeds `sink` with the relay of the lead of `key` held elsewhere, from its start: every message, then the end (the
   * final text, or `null`: failed, or nothing within `firstMs` of the call, or a silence longer than `idleMs`).
   */
  follow(key: string, bounds: { firstMs: number; idleMs: number }, sink: FlightSink): void
}

export type FlightRelay = {
  /** A message for the followers (sent with the others of the same event-loop turn). */
  send(text: string): void
  /** The lead is over: its final text (the whole answer), or `null` when none is coming. */
  end(text: string | null): void
}

export type FlightSink = {
  message(text: string): void
  end(text: string | null): void
}

export interface CacheStore {
  /** Single-flight across processes, where the store is shared by several (Redis); absent in a process's own. */
  readonly flights?: SharedFlights
  /** Releases what the store holds open (a subscriber connection); absent where there is nothing. */
  close?(): Promise<void>
  /** The value under `key`, or `null` when there is none (never stored, expired, purged, evicted). */
  get(key: string): Promise<CachedValue | null>
  /** Stores `value` under `key` for `ttlMs`, replacing what was there. */
  set(key: string, value: string, options: CacheEntryLabels & { ttlMs: number }): Promise<void>
  /** Removes the entries selected; resolves with how many there were. */
  delete(purge: CachePurge): Promise<number>
}
