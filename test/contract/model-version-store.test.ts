/**
 * The model version store contract, on SQLite and on PostgreSQL: an activation kept is read back as it was given, a
 * new one for the same model replaces it, models of other providers are apart, a reset forgets it, and another
 * connection to the database (another gateway process) reads what this one wrote.
 */
import { expect, it } from 'vitest'
import type { ModelVersionStore, StoredActivation } from '../../src/stores/model-version-store.ts'
import { openSqlDatabase } from '../../src/stores/sql/open-sql-database.ts'
import { createSqlModelVersionStore } from '../../src/stores/sql/sql-model-version-store.ts'
import { defineStoreContract } from './define-store-contract.ts'
import { sqlStoreImplementations } from './sql-store-implementations.ts'

type Fixture = {
  store: ModelVersionStore
  /** The same database through a connection of its own, as another process has it. */
  readElsewhere(): Promise<StoredActivation[]>
}

const activation = (
  model: string,
  version: string,
  activatedAt: number,
  provider = 'local'
): StoredActivation => ({ provider, model, version, activatedAt })

defineStoreContract<Fixture>({
  name: 'model version store',
  implementations: sqlStoreImplementations((database, target): Fixture => ({
    store: createSqlModelVersionStore({ database }),
    readElsewhere: async () => {
      const other = openSqlDatabase({ url: target.url, cwd: process.cwd(), poolSize: 1 })
      try {
        return await createSqlModelVersionStore({ database: other }).list()
      } finally {
        await other.close()
      }
    },
  })),
  cases: (getFixture) => {
    it('keeps one activation per model of a provider: the last one, until it is reset', async () => {
      const { store } = getFixture()
      expect(await store.list()).toEqual([])
      const time = Date.UTC(2026, 5, 1, 12)
      await store.set(activation('gatehouse-tiny', '2', time))
      await store.set(activation('gatehouse-tiny-embed', '1', time + 1))
      await store.set(activation('gatehouse-tiny', '2', time, 'local-gpu'))
      await store.set(activation('gatehouse-tiny', '1', time + 2))
      expect(await store.list()).toEqual([
        activation('gatehouse-tiny', '1', time + 2),
        activation('gatehouse-tiny-embed', '1', time + 1),
        activation('gatehouse-tiny', '2', time, 'local-gpu'),
      ])
      await store.remove('local', 'gatehouse-tiny')
      await store.remove('local', 'not-kept')
      expect(await store.list()).toEqual([
        activation('gatehouse-tiny-embed', '1', time + 1),
        activation('gatehouse-tiny', '2', time, 'local-gpu'),
      ])
    })

    it('is what another process on the same database reads', async () => {
      const { store, readElsewhere } = getFixture()
      const time = Date.UTC(2026, 5, 1, 12)
      await store.set(activation('gatehouse-tiny', '2025-06-01', time))
      expect(await readElsewhere()).toEqual([activation('gatehouse-tiny', '2025-06-01', time)])
    })
  },
})
