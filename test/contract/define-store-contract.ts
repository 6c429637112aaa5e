/**
 * The contract harness: one list of cases, run against every implementation of a store interface (memory, SQL,
 * Redis...), so the backends cannot drift apart in what a caller sees. A store suite is one file in test/contract/:
 *
 * ```ts
 * defineStoreContract<KeyStore>({
 *   name: 'key store',
 *   implementations: [
 *     { name: 'memory', create: async () => ({ store: createMemoryKeyStore({ clock }) }) },
 *     {
 *       name: 'postgres',
 *       requires: 'postgres',
 *       create: async () => {
 *         const database = await createThrowawayPostgresDatabase()
 *         const store = await createSqlKeyStore({ url: database.url, clock })
 *         return { store, cleanup: async () => { await store.close(); await database.drop() } }
 *       },
 *     },
 *     {
 *       name: 'redis',
 *       requires: 'redis',
 *       create: async () => {
 *         const keys = createRedisTestPrefix({ label: 'keys' })
 *         const store = createRedisKeyStore({ url: storeServiceUrl('redis'), prefix: keys.prefix, clock })
 *         return { store, cleanup: async () => { await store.close(); await keys.cleanup() } }
 *       },
 *     },
 *   ],
 *   cases: (getStore) => {
 *     it('finds a key by its hash', async () => { ... getStore() ... })
 *   },
 * })
 * ```
 *
 * Every case gets a fresh store (`create` before it, `cleanup` after it, pass or fail), so no case depends on another's
 * leftovers. An implementation that `requires` a service is checked once before its cases (`requireStoreService`):
 * with `CI=true` an unreachable service fails the suite, since a skipped backend would pass CI untested; elsewhere its
 * cases are skipped, with the reason, so the suite runs on a machine without Redis or PostgreSQL.
 */
import { afterEach, beforeAll, beforeEach, describe } from 'vitest'
import { checkStoreService, type StoreService } from './check-store-service.ts'

export type { StoreService } from './check-store-service.ts'

export type CreatedStore<S> = {
  store: S
  /** Runs after the case: close connections, drop the database, delete the key prefix. */
  cleanup?: () => Promise<void>
}

export type StoreImplementation<S> = {
  /** Shown in the suite name: `key store (postgres)`. */
  name: string
  /** The service this implementation needs running (see `requireStoreService`). */
  requires?: StoreService
  /** A fresh, empty store for one case. */
  create: () => Promise<CreatedStore<S>>
}

export type StoreContract<S> = {
  /** The store interface under test: `key store`, `usage store`. */
  name: string
  implementations: readonly StoreImplementation<S>[]
  /**
   * Declares the cases (`it`, `describe`), once per implementation. `getStore()` is the current case's store: call it
   * inside a case or a hook, never at declaration time.
   */
  cases: (getStore: () => S) => void
}

/** `CI=true` (GitHub Actions and most CI services set it) or `CI=1`. */
export const runsInCI = (): boolean => ['true', '1'].includes((process.env.CI ?? '').toLowerCase())

/**
 * Registers, in the current `describe`, the reachability check of `service`, made once before its tests: under CI an
 * unreachable service fails every test of the block with the reason; elsewhere they are skipped with it (and one
 * warning line per block).
 */
export const requireStoreService = (service: StoreService): void => {
  let problem: string | null = null
  beforeAll(async () => {
    problem = await checkStoreService(service)
    if (problem !== null && !runsInCI())
      console.warn(`${problem}: skipping these cases (with CI=true they fail).`)
  })
  beforeEach((context) => {
    if (problem === null) return
    if (runsInCI())
      throw new Error(
        `${problem}. With CI=true a store suite fails rather than skip: start the service.`
      )
    context.skip(problem)
  })
}

/** Declares `contract.cases` once per implementation, each in its own `describe`. */
export const defineStoreContract = <S>(contract: StoreContract<S>): void => {
  for (const implementation of contract.implementations) {
    describe(`${contract.name} (${implementation.name})`, () => {
      if (implementation.requires !== undefined) requireStoreService(implementation.requires)
      let current: CreatedStore<S> | undefined
      beforeEach(async () => {
        current = await implementation.create()
      })
      afterEach(async () => {
        const created = current
        current = undefined
        await created?.cleanup?.()
      })
      contract.cases(() => {
        if (current === undefined)
          throw new Error(`getStore() of ${contract.name} was called outside a case`)
        return current.store
      })
    })
  }
}
