/**
 * `CacheStore` in the process: an LRU (lru-cache) bounded by the bytes its values take, each entry with its own
 * expiry, read from the injected clock. The least recently read or written entries go first when the bound is
 * reached; an entry larger than the whole bound is not kept (and pushes nothing out). An expired entry is dropped
 * when it is met, otherwise it leaves in LRU order like any other: the bound holds either way. Values are kept as the
 * text given (a string is immutable), so no reader can change what another reads.
 *
 * Each entry keeps a memo (`CachedValue.memo`) beside its text, where the prompt cache keeps the answer it parsed and
 * the bodies it encoded from it, so that a hit is a lookup and a write. The bound counts it: an entry is counted at
 * three times its text (the text, the parsed answer and an encoded body each take about as much), plus its overhead.
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../../core/clock.ts'
import type {
  CacheEntryLabels,
  CacheMemo,
  CachePurge,
  CacheStore,
  CachedValue,
} from '../cache-store.ts'
import { textBytes } from '../text-bytes.ts'

/** The default bound: 128 MiB. */
export const defaultMaxCacheBytes = 128 * 1024 * 1024

/** What an entry costs beside its value (the entry object, its labels, the LRU's slots), roughly. */
const entryOverheadBytes = 256

/** The text, and what readers derive from it and keep in its memo (the parsed answer, an encoded body). */
const copiesCounted = 3

type Entry = CacheEntryLabels & {
  value: string
  createdAt: number
  expiresAt: number
  memo: CacheMemo
}

/** What an entry counts against the bound: its text's bytes for each of `copiesCounted`, plus its overhead. */
const bytesOf = (value: string): number => textBytes(value) * copiesCounted + entryOverheadBytes

export const createMemoryCacheStore = (options: {
  clock: Clock
  /** Bytes the entries take at most, as counted by `bytesOf` (default `defaultMaxCacheBytes`). */
  maxBytes?: number
}): CacheStore => {
  const { clock } = options
  const entries = new LRUCache<string, Entry>({
    maxSize: options.maxBytes ?? defaultMaxCacheBytes,
    sizeCalculation: (entry) => bytesOf(entry.value),
  })
  const deleteWhere = (matches: (entry: Entry) => boolean): number => {
    const keys: string[] = []
    for (const [key, entry] of entries.entries()) if (matches(entry)) keys.push(key)
    for (const key of keys) entries.delete(key)
    return keys.length
  }
  return {
    get: async (key): Promise<CachedValue | null> => {
      const entry = entries.get(key)
      if (entry === undefined) return null
      const now = clock.now()
      if (entry.expiresAt <= now) {
        entries.delete(key)
        return null
      }
      return { value: entry.value, ageMs: Math.max(0, now - entry.createdAt), memo: entry.memo }
    },
    set: async (key, value, { tenant, model, ttlMs }) => {
      if (!(ttlMs > 0)) return
      const now = clock.now()
      entries.set(key, {
        value,
        tenant,
        model,
        createdAt: now,
        expiresAt: now + ttlMs,
        memo: {},
      })
    },
    delete: async (purge: CachePurge) => {
      if ('key' in purge) return entries.delete(purge.key) ? 1 : 0
      if ('tenant' in purge) return deleteWhere((entry) => entry.tenant === purge.tenant)
      if ('model' in purge) return deleteWhere((entry) => entry.model === purge.model)
      const count = entries.size
      entries.clear()
      return count
    },
  }
}
