/**
 * `CacheStore` in Redis, shared by every gateway process of a deployment. Keys, all under the deployment's prefix:
 *
 * - `<prefix>cache:e:<key>`: the entry, with its TTL (`SET … PX`). Its value is a format byte (`p`: plain text, `g`:
 *   gzip), the time it was stored (epoch ms, decimal) and `:`, then the value's bytes. Values of at least
 *   `compressAboveBytes` are gzipped when that saves at least a tenth (JSON answers usually shrink to a third or
 *   less), off the event loop (zlib's thread pool).
 * - `<prefix>cache:t:<tenant>` and `<prefix>cache:m:<provider/model>`: sorted sets of entry keys by expiry, for purges
 *   by tenant and by model. Each write drops the members that expired, and extends the set's TTL to the longest entry
 *   it holds, so an index never outlives its entries by more than that.
 *
 * A write is one script (the entry and its index entries together); a read is one `GET`. The process keeps what it
 * read last under each key, the bytes Redis gave, their text and the memo readers keep with it (`CachedValue.memo`),
 * in an LRU bounded by bytes (`memoMaxBytes`): a read whose `GET` gives the very same bytes again gets that text and
 * memo back without gunzipping the value again, and the prompt cache finds its parsed answer and encodings there.
 * Every read still asks Redis, so an entry purged, expired or replaced is never served from the memo. Every operation runs under
 * the cache's own `RedisGuard`: past its timeout, or while Redis is down, a read is a miss and a write is dropped, so
 * the request goes upstream, and the incident is logged once. A purge (an operator's call, which may scan many keys)
 * is not bounded by that timeout; one that cannot reach Redis throws a 503.
 */
import { promisify } from 'node:util'
import { gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib'
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { Clock } from '../../core/clock.ts'
import type { CacheMemo, CachePurge, CacheStore, CachedValue } from '../cache-store.ts'
import { textBytes } from '../text-bytes.ts'
import { sharedStoreUnavailable, type RedisGuard } from './redis-guard.ts'
import { RedisScript } from './redis-script.ts'
import type { RedisSharedFlights } from './redis-shared-flights.ts'

const gzip = promisify(gzipCallback)
const gunzip = promisify(gunzipCallback)

const plain = 0x70 // 'p'
const gzipped = 0x67 // 'g'
const colon = 0x3a

/** KEYS: the entry, then its index sets. ARGV: value, TTL (ms), expiry (epoch ms), now (epoch ms). */
const setScript = new RedisScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ttl = tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[4])
  redis.call('ZADD', KEYS[i], ARGV[3], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
`)

/** KEYS: an index set. Deletes its entries and itself; returns how many entries there were. */
const purgeIndexScript = new RedisScript(`
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local deleted = 0
for i = 1, #members do deleted = deleted + redis.call('DEL', members[i]) end
redis.call('DEL', KEYS[1])
return deleted
`)

/** The default bound of the memo of entries read: 16 MiB. */
export const defaultRedisMemoBytes = 16 * 1024 * 1024

/** What this process read last under a key: the bytes Redis gave, what they hold, and the readers' memo. */
type Recent = { stored: Buffer; value: string; createdAt: number; memo: CacheMemo }

/** The bytes, the text, and what readers derive from it (the parsed answer, an encoded body), plus overhead. */
const recentBytes = (recent: Recent): number =>
  recent.stored.length + 3 * textBytes(recent.value) + 256

/** `*`, `?`, `[`, `]` and `\\` are glob syntax in `SCAN MATCH`. */
const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, '\\$&')

export type RedisCacheStoreOptions = {
  redis: Redis
  /** The cache's own guard (`outageMessage` set): its incidents are the cache's, not the limits'. */
  guard: RedisGuard
  clock: Clock
  /** The deployment's prefix (`redis.keyPrefix`); the cache's keys are `<prefix>cache:…`. */
  prefix: string
  /** Values at least this many bytes long are gzipped when that pays (default 1024). */
  compressAboveBytes?: number
  /** Single-flight across the processes sharing this Redis (`redis-shared-flights.ts`), which the store then owns. */
  flights?: RedisSharedFlights
  /** Bytes the memo of entries read takes at most (default `defaultRedisMemoBytes`). */
  memoMaxBytes?: number
}

export const createRedisCacheStore = (options: RedisCacheStoreOptions): CacheStore => {
  const { redis, guard, clock } = options
  const compressAboveBytes = options.compressAboveBytes ?? 1024
  const root = `${options.prefix}cache:`
  const entryKey = (key: string): string => `${root}e:${key}`
  const tenantIndex = (tenant: string): string => `${root}t:${tenant}`
  const modelIndex = (model: string): string => `${root}m:${model}`
  const encode = async (value: string, now: number): Promise<Buffer> => {
    const bytes = Buffer.from(value, 'utf8')
    let format = plain
    let payload = bytes
    if (bytes.length >= compressAboveBytes) {
      const compressed = await gzip(bytes)
      if (compressed.length <= bytes.length * 0.9) {
        format = gzipped
        payload = compressed
      }
    }
    return Buffer.concat([Buffer.from([format]), Buffer.from(`${now}:`, 'latin1'), payload])
  }

  const decode = async (stored: Buffer): Promise<{ value: string; createdAt: number } | null> => {
    const end = stored.indexOf(colon, 1)
    if (end === -1) return null
    const createdAt = Number(stored.toString('latin1', 1, end))
    const payload = stored.subarray(end + 1)
    if (stored[0] === plain) return { value: payload.toString('utf8'), createdAt }
    if (stored[0] === gzipped) return { value: (await gunzip(payload)).toString('utf8'), createdAt }
    return null
  }

  const deleteAll = async (): Promise<number> => {
    let cursor = '0'
    let entries = 0
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${escapeGlob(root)}*`, 'COUNT', 500)
      if (keys.length > 0) {
        const entryKeys = keys.filter((key) => key.startsWith(`${root}e:`))
        if (entryKeys.length > 0) entries += await redis.unlink(...entryKeys)
        const others = keys.filter((key) => !key.startsWith(`${root}e:`))
        if (others.length > 0) await redis.unlink(...others)
      }
      cursor = next
    } while (cursor !== '0')
    return entries
  }

  const recents = new LRUCache<string, Recent>({
    maxSize: options.memoMaxBytes ?? defaultRedisMemoBytes,
    sizeCalculation: recentBytes,
  })

  const flights = options.flights
  return {
    flights,
    close: async () => {
      await flights?.close()
    },
    get: async (key): Promise<CachedValue | null> => {
      const stored = await guard.run(
        'cache get',
        () => redis.getBuffer(entryKey(key)),
        () => null
      )
      if (stored === null) {
        recents.delete(key)
        return null
      }
      let recent = recents.get(key)
      if (recent === undefined || !recent.stored.equals(stored)) {
        const decoded = await decode(stored)
        if (decoded === null) return null
        // A copy: the reply may be a slice of a much larger socket read, which the memo would keep alive.
        recent = {
          stored: Buffer.from(stored),
          value: decoded.value,
          createdAt: decoded.createdAt,
          memo: {},
        }
        recents.set(key, recent)
      }
      return {
        value: recent.value,
        ageMs: Math.max(0, clock.now() - recent.createdAt),
        memo: recent.memo,
      }
    },
    set: async (key, value, { tenant, model, ttlMs }) => {
      if (!(ttlMs > 0)) return
      const now = clock.now()
      const encoded = await encode(value, now)
      const keys = [entryKey(key), modelIndex(model)]
      if (tenant !== null) keys.push(tenantIndex(tenant))
      await guard.run(
        'cache set',
        () => setScript.run(redis, keys, [encoded, Math.ceil(ttlMs), now + ttlMs, now]),
        () => null
      )
    },
    delete: async (purge: CachePurge) => {
      // What the next reads find in Redis decides; the memo of what this process read goes now, all of it.
      recents.clear()
      try {
        if ('key' in purge) return await redis.unlink(entryKey(purge.key))
        if ('tenant' in purge)
          return Number(await purgeIndexScript.run(redis, [tenantIndex(purge.tenant)], []))
        if ('model' in purge)
          return Number(await purgeIndexScript.run(redis, [modelIndex(purge.model)], []))
        return await deleteAll()
      } catch {
        throw sharedStoreUnavailable('The prompt cache')
      }
    },
  }
}
