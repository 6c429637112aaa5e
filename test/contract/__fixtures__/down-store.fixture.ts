/**
 * A contract suite whose second implementation needs a service that is down (harness.test.ts points
 * GATEHOUSE_TEST_REDIS_URL at a closed port): its cases must fail under CI=true and be skipped elsewhere, while the
 * first implementation's cases run either way. The second case also shows each case gets a fresh store.
 */
import { expect, it } from 'vitest'
import { defineStoreContract } from '../define-store-contract.ts'

defineStoreContract<Map<string, string>>({
  name: 'fixture store',
  implementations: [
    { name: 'memory', create: async () => ({ store: new Map() }) },
    { name: 'down', requires: 'redis', create: async () => ({ store: new Map() }) },
  ],
  cases: (getStore) => {
    it('stores a value', () => {
      getStore().set('alpha', 'one')
      expect(getStore().get('alpha')).toBe('one')
    })

    it('starts empty', () => {
      expect(getStore().size).toBe(0)
    })
  },
})
