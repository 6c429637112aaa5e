/**
 * Opens the stores on Node: tenants, keys, usage, stored responses and activated model versions in SQL (a SQLite file
 * by default, PostgreSQL with a `postgres://` URL), migrated at start-up; rate limits, budgets and revocations in Redis
 * when `redis.url` is set, in the process otherwise (one process only); the prompt cache's answers, when the cache is
 * on, in the process (an LRU, by default) or in Redis (`cache.backend: redis`, with single-flight across processes);
 * with Redis, the purges of an in-process cache are relayed to every process. Starts the usage retention
 * (`start-usage-retention.ts`). Returns them with what shutdown closes, in order: the revocation feed, the Redis
 * connection, the usage retention, the usage writer thread and the database (after the usage sink, which `node-deps.ts`
 * closes first).
 */
import type { Clock } from '../core/clock.ts'
import type { Logger } from '../core/logger.ts'
import type { ResolvedConfig } from '../core/resolve-config.ts'
import type { SpentLoader } from '../stores/budgets.ts'
import type { CacheStore } from '../stores/cache-store.ts'
import { createMemoryAdmissionStore } from '../stores/memory/memory-admission-store.ts'
import { createMemoryCacheStore } from '../stores/memory/memory-cache-store.ts'
import { createMemoryRevocationFeed } from '../stores/memory/memory-revocation-feed.ts'
import { connectRedis } from '../stores/redis/connect-redis.ts'
import { createRedisAdmissionStore } from '../stores/redis/redis-admission-store.ts'
import { createQuotaBlockAdmission } from '../stores/quota-block-admission.ts'
import { createRedisCacheStore } from '../stores/redis/redis-cache-store.ts'
import { relayPurgesThroughRedis } from '../stores/redis/redis-purge-relay.ts'
import { createRedisSharedFlights } from '../stores/redis/redis-shared-flights.ts'
import { RedisGuard } from '../stores/redis/redis-guard.ts'
import { createRedisRevocationFeed } from '../stores/redis/redis-revocation-feed.ts'
import { defaultDatabaseUrl } from '../stores/sql/open-sql-database.ts'
import { createSqlModelVersionStore } from '../stores/sql/sql-model-version-store.ts'
import { createSqlResponseStore } from '../stores/sql/sql-response-store.ts'
import { createSqlTenantStore } from '../stores/sql/sql-tenant-store.ts'
import { createSqlUsageStore } from '../stores/sql/sql-usage-store.ts'
import type { Closable, Stores } from '../stores/types.ts'
import type { UsageStore } from '../stores/usage-store.ts'
import { openMigratedDatabase } from './open-migrated-database.ts'
import { startUsageRetention } from './start-usage-retention.ts'
import { createThreadedUsageWriter } from './threaded-usage-writer.ts'

export type NodeStores = {
  /** Every store; `cache` only when the prompt cache is on for some route. */
  stores: Required<Omit<Stores, 'cache'>> & Pick<Stores, 'cache'>
  /**
   * Where the usage sink writes: on SQLite a worker thread with its own connection (the driver is synchronous and
   * would hold the event loop for every batch), on PostgreSQL the usage store itself.
   */
  usageWriter: Pick<UsageStore, 'record' | 'pruneEvents' | 'pruneHourlyRollups'>
  /** Closed at shutdown in this order, after the usage sink. */
  closables: Closable[]
  /** Where the SQL store is, for the start-up log (no password). */
  databaseLocation: string
  /** Whether limits are shared through Redis (several processes) or kept in this process. */
  shared: boolean
  /**
   * Sets what runs before a budget counter is seeded from the usage store: the usage sink's flush, so that the charges
   * this process settled but has not written yet are in the sum it reads. A counter is seeded when it is missing (a
   * new period, a restart, Redis losing it); the sink writes every `usage.flushIntervalMs`, and a seed read before that
   * would miss them, and let the key spend them again.
   */
  flushBeforeSeeding(flush: () => Promise<unknown>): void
}

export const openNodeStores = async (options: {
  config: ResolvedConfig
  cwd: string
  logger: Logger
  clock: Clock
}): Promise<NodeStores> => {
  const { config, cwd, logger, clock } = options
  const database = await openMigratedDatabase({ config, cwd, logger })
  const tenants = createSqlTenantStore({ database, clock })
  const usage = createSqlUsageStore({ database })
  const responses = createSqlResponseStore({ database, clock })
  const modelVersions = createSqlModelVersionStore({ database })
  let flushBeforeSeeding: () => Promise<unknown> = async () => {}
  const loadSpent: SpentLoader = async (query) => {
    await flushBeforeSeeding()
    return usage.spent(
      query.scope === 'tenant' ? { tenantId: query.id } : { keyId: query.id },
      query.start ?? 0
    )
  }
  const setFlushBeforeSeeding = (flush: () => Promise<unknown>): void => {
    flushBeforeSeeding = flush
  }
  const databaseClosable: Closable = { name: 'database', close: () => database.close() }
  const threaded =
    database.dialect === 'sqlite'
      ? createThreadedUsageWriter({ url: config.database.url ?? defaultDatabaseUrl, cwd })
      : null
  const usageWriter = threaded ?? usage
  /** Starts the retention (once everything opened) and lists it before the connections it prunes through. */
  const startRetentionAndListSqlClosables = (): Closable[] => {
    const retention = startUsageRetention({
      store: usageWriter,
      clock,
      logger,
      eventsDays: config.usage.retentionDays,
      hourlyDays: config.usage.hourlyRetentionDays,
      // On SQLite from the event loop, a slice at a time, once an hour: expired responses only.
      responses,
    })
    return threaded === null
      ? [retention, databaseClosable]
      : [retention, threaded, databaseClosable]
  }

  /** The prompt cache's store in the process (its default), when the cache is on and not in Redis. */
  const memoryCache = (): CacheStore | undefined =>
    config.cache.enabled && config.cache.backend === 'memory'
      ? createMemoryCacheStore({ clock, maxBytes: config.cache.maxBytes })
      : undefined

  if (config.redis.url === null) {
    const revocations = createMemoryRevocationFeed()
    const sqlClosables = startRetentionAndListSqlClosables()
    return {
      stores: {
        tenants,
        usage,
        admission: createMemoryAdmissionStore({ clock, loadSpent }),
        revocations,
        responses,
        cache: memoryCache(),
        modelVersions,
      },
      usageWriter,
      closables: [{ name: 'revocation feed', close: () => revocations.close() }, ...sqlClosables],
      databaseLocation: database.location,
      shared: false,
      flushBeforeSeeding: setFlushBeforeSeeding,
    }
  }

  const redis = await connectRedis({ url: config.redis.url, connectionName: 'gatehouse' })
  const guard = new RedisGuard({
    mode: config.limits.onStoreFailure,
    logger,
    timeoutMs: config.redis.timeoutMs,
    clock,
  })
  const prefix = config.redis.keyPrefix
  const revocations = createRedisRevocationFeed({ redis, guard, logger, prefix })
  // The cache's own guard: the cache always goes upstream when Redis is away, whatever the limits do, and its
  // incidents are logged as the cache's.
  const cacheGuard = (
    outageMessage = 'Redis is unavailable: the prompt cache is bypassed (requests go upstream) until it answers again'
  ): RedisGuard =>
    new RedisGuard({
      mode: 'open',
      logger,
      timeoutMs: config.cache.timeoutMs,
      clock,
      outageMessage,
      subject: 'prompt cache',
    })
  const redisCache = (): CacheStore => {
    const guard = cacheGuard()
    return createRedisCacheStore({
      redis,
      guard,
      clock,
      prefix,
      compressAboveBytes: config.cache.compressAboveBytes,
      flights: createRedisSharedFlights({ redis, guard, logger, prefix }),
    })
  }
  /** Each process's own LRU, whose purges reach every process on this Redis. */
  const relayedMemoryCache = (): CacheStore | undefined => {
    const store = memoryCache()
    return store === undefined
      ? undefined
      : relayPurgesThroughRedis({
          store,
          redis,
          guard: cacheGuard(
            'Redis is unavailable: prompt cache purges reach only the process that receives them until it answers again'
          ),
          logger,
          prefix,
        })
  }
  const cache =
    config.cache.enabled && config.cache.backend === 'redis' ? redisCache() : relayedMemoryCache()
  const sqlClosables = startRetentionAndListSqlClosables()
  const admission = createQuotaBlockAdmission({
    store: createRedisAdmissionStore({ redis, guard, clock, loadSpent, prefix }),
    clock,
    logger,
    blockMs: config.limits.blockMs,
  })
  return {
    stores: {
      tenants,
      usage,
      admission,
      revocations,
      responses,
      cache,
      modelVersions,
    },
    usageWriter,
    closables: [
      { name: 'revocation feed', close: () => revocations.close() },
      // Before Redis quits: the quota blocks still open hand back what they did not use.
      { name: 'quota blocks', close: () => admission.close() },
      ...(cache?.close === undefined
        ? []
        : [{ name: 'prompt cache', close: () => cache.close!() }]),
      {
        name: 'redis',
        close: async () => {
          await redis.quit().catch(() => redis.disconnect())
        },
      },
      ...sqlClosables,
    ],
    databaseLocation: database.location,
    shared: true,
    flushBeforeSeeding: setFlushBeforeSeeding,
  }
}
