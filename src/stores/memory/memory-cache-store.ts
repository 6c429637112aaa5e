/**
 * `CacheStore` in the process: an LRU (lru-cache) bounded by the bytes its values take, each entry with its own
 * expiry, read from the injected clock. The least recently read or written entries go first when the bound is
 * reached; an entry larger than the whole bound is not kept (and pushes nothing out). An expired entry is dropped
 * when it is met, otherwise it leaves in LRU order like any other: the bound holds either way. Values are kept as the
 * text given (a string is immutable), so no reader can change what another reads.
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../../core/clock.ts'
import type { CacheEntryLabels, CachePurge, CacheStore, CachedValue } from '../cache-store.ts'

/** The default bound: 128 MiB. */
export const defaultMaxCacheBytes = 128 * 1024 * 1024

/** What an entry costs beside its value (the entry object, its labels, the LRU's slots), roughly. */
const entryOverheadBytes = 256

type Entry = CacheEntryLabels & { value: string; createdAt: number; expiresAt: number }

/**
 * A value's size in bytes as V8 holds it: one byte per character for Latin-1 text, two otherwise. Counted as two
 * whenever any character is beyond Latin-1, which is what V8 does for the whole string.
 */
const bytesOf = (value: string): number => {
  // eslint-disable-next-line no-control-regex
  return (/^[\u0000-\u00ff]*$/.test(value) ? value.length : value.length * 2) + entryOverheadBytes
}

export const createMemoryCacheStore = (options: {
  clock: Clock
  /** Bytes of values kept at most (default `defaultMaxCacheBytes`). */
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
      return { value: entry.value, ageMs: Math.max(0, now - entry.createdAt) }
    },
    set: async (key, value, { tenant, model, ttlMs }) => {
      if (!(ttlMs > 0)) return
      const now = clock.now()
      entries.set(key, { value, tenant, model, createdAt: now, expiresAt: now + ttlMs })
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
