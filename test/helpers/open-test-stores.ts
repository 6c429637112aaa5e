/**
 * Real stores for route tests: tenants and usage in a SQLite file in a temporary folder (migrated as the server does
 * at start), a memory revocation feed that records what was published, and an authenticator that accepts the master
 * key and the tenants' keys by their hash, as the gateway's does, so `app.request()` runs the admin and usage routes
 * against what they will meet in production.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Clock } from '../../src/core/clock.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import { masterPrincipal } from '../../src/core/principal.ts'
import type { Authenticator } from '../../src/middleware/authenticate.ts'
import { createMemoryRevocationFeed } from '../../src/stores/memory/memory-revocation-feed.ts'
import type { RevocationNotice } from '../../src/stores/revocation-feed.ts'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlTenantStore } from '../../src/stores/sql/sql-tenant-store.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import { checkKeyLookup, type TenantStore } from '../../src/stores/tenant-store.ts'
import type { UsageStore } from '../../src/stores/usage-store.ts'
import type { Stores } from '../../src/stores/types.ts'

export type TestStores = {
  stores: Stores & { tenants: TenantStore; usage: UsageStore }
  database: SqlDatabase
  /** What was published on the revocation feed, in order. */
  published: RevocationNotice[]
  close(): Promise<void>
}

export const openTestStores = async (clock: Clock): Promise<TestStores> => {
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-admin-'))
  const database = openSqlDatabase({
    url: `sqlite:${join(directory, 'gatehouse.db')}`,
    cwd: directory,
  })
  await migrateSqlDatabase(database)
  const revocations = createMemoryRevocationFeed()
  const published: RevocationNotice[] = []
  revocations.subscribe((event) => {
    if (event.kind !== 'reset') published.push(event)
  })
  return {
    stores: {
      tenants: createSqlTenantStore({ database, clock }),
      usage: createSqlUsageStore({ database }),
      revocations,
    },
    database,
    published,
    close: async () => {
      await revocations.close()
      await database.close()
      rmSync(directory, { recursive: true, force: true })
    },
  }
}

/** The master key, or a tenant key the store knows and would not refuse at the clock's time. */
export const createTestAuthenticator = (options: {
  masterKey: string
  tenants: TenantStore
  clock: Clock
}): Authenticator => ({
  async authenticate(key) {
    if (key === options.masterKey) return masterPrincipal
    const lookup = await options.tenants.getKeyByHash(await hashApiKey(key))
    if (lookup === null || checkKeyLookup(lookup, options.clock.now()) !== null) return null
    return { kind: 'key', id: lookup.key.id, tenantId: lookup.tenant.id }
  },
})
