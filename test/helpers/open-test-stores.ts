/**
 * Real stores for route tests: tenants and usage in a SQLite file in a temporary folder (migrated as the server does
 * at start), a memory revocation feed that records what was published, and the gateway's authenticator over them,
 * so `app.request()` runs the admin and usage routes against what they will meet in production.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Clock } from '../../src/core/clock.ts'
import type { Authenticator } from '../../src/middleware/authenticate.ts'
import { createMasterKeyAuthenticator } from '../../src/middleware/master-key-authenticator.ts'
import { createTenantKeyAuthenticator } from '../../src/middleware/tenant-key-authenticator.ts'
import { createMemoryRevocationFeed } from '../../src/stores/memory/memory-revocation-feed.ts'
import type { RevocationFeed, RevocationNotice } from '../../src/stores/revocation-feed.ts'
import { migrateSqlDatabase } from '../../src/stores/sql/migrate-sql-database.ts'
import { openSqlDatabase, type SqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlTenantStore } from '../../src/stores/sql/sql-tenant-store.ts'
import { createSqlUsageStore } from '../../src/stores/sql/sql-usage-store.ts'
import type { TenantStore } from '../../src/stores/tenant-store.ts'
import type { UsageStore } from '../../src/stores/usage-store.ts'
import type { Stores } from '../../src/stores/types.ts'

export type TestStores = {
  stores: Stores & { tenants: TenantStore; usage: UsageStore; revocations: RevocationFeed }
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

/**
 * The gateway's own authenticator over these stores: the master key, and tenant keys looked up by hash, remembered
 * for a while and forgotten when the revocation feed says so.
 */
export const createTestAuthenticator = (options: {
  masterKey: string
  stores: TestStores['stores']
  clock: Clock
}): Authenticator =>
  createTenantKeyAuthenticator({
    master: createMasterKeyAuthenticator(options.masterKey),
    tenants: options.stores.tenants,
    revocations: options.stores.revocations,
    clock: options.clock,
  })
