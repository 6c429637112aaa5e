/**
 * The tenant store contract (tenants and their API keys), run on every backend: what is stored comes back as it was
 * given, a key is found by its hash only, rotation keeps the old secret until its grace deadline, and a write that
 * fails (a taken name or hash, an unknown or disabled tenant, invalid input) leaves nothing behind.
 */
import { expect, it } from 'vitest'
import { GatewayError } from '../../src/core/errors.ts'
import { generateApiKey } from '../../src/core/generate-api-key.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import { createSqlTenantStore } from '../../src/stores/sql/sql-tenant-store.ts'
import {
  checkKeyLookup,
  keyLookupValidUntil,
  type CreateKeyInput,
  type TenantStore,
} from '../../src/stores/tenant-store.ts'
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.ts'
import { defineStoreContract } from './define-store-contract.ts'
import { sqlStoreImplementations } from './sql-store-implementations.ts'

type Fixture = { store: TenantStore; clock: FakeClock }

const minute = 60_000
const day = 86_400_000

/** A fresh key as the admin API would make it: the key, and what the store is given. */
const mintKey = async (): Promise<{ key: string; hash: string; displayPrefix: string }> => {
  const { key, displayPrefix } = generateApiKey()
  return { key, hash: await hashApiKey(key), displayPrefix }
}

/** The `GatewayError` `promise` rejects with (fails the case if it resolves or throws something else). */
const refusal = async (promise: Promise<unknown>): Promise<GatewayError> => {
  const error = await promise.then(
    () => {
      throw new Error('expected a refusal, got a result')
    },
    (reason: unknown) => reason
  )
  expect(error).toBeInstanceOf(GatewayError)
  return error as GatewayError
}

defineStoreContract<Fixture>({
  name: 'tenant store',
  implementations: sqlStoreImplementations((database) => {
    const clock = createFakeClock(Date.UTC(2026, 2, 1, 12))
    return { store: createSqlTenantStore({ database, clock }), clock }
  }),
  cases: (getFixture) => {
    const createKey = async (
      tenantId: string,
      extra: Partial<CreateKeyInput> = {}
    ): Promise<{ id: string; key: string; hash: string }> => {
      const minted = await mintKey()
      const record = await getFixture().store.createKey({
        tenantId,
        name: 'service',
        hash: minted.hash,
        displayPrefix: minted.displayPrefix,
        ...extra,
      })
      return { id: record.id, key: minted.key, hash: minted.hash }
    }

    it('stores a tenant with its settings and reads it back by id and by name', async () => {
      const { store, clock } = getFixture()
      const created = await store.createTenant({
        name: 'acme',
        allowedModels: ['openai/*', 'anthropic/claude-*'],
        limits: { rpm: 60, tpm: 100_000 },
        budget: { microUsd: 50_000_000, period: 'month' },
        metadata: { owner: 'platform' },
      })
      expect(created).toEqual({
        id: expect.stringMatching(/^ten_[0-9a-f]{32}$/),
        name: 'acme',
        allowedModels: ['openai/*', 'anthropic/claude-*'],
        limits: { rpm: 60, tpm: 100_000, concurrency: null },
        budget: { microUsd: 50_000_000, period: 'month' },
        metadata: { owner: 'platform' },
        disabledAt: null,
        createdAt: clock.now(),
        updatedAt: clock.now(),
      })
      expect(await store.getTenant(created.id)).toEqual(created)
      expect(await store.getTenantByName('acme')).toEqual(created)
      expect(await store.getTenant('ten_missing')).toBeNull()
      expect(await store.getTenantByName('missing')).toBeNull()

      const bare = await store.createTenant({ name: 'bare', id: 'ten_bare' })
      expect(bare).toMatchObject({
        id: 'ten_bare',
        allowedModels: null,
        limits: { rpm: null, tpm: null, concurrency: null },
        budget: null,
        metadata: {},
      })
    })

    it('refuses a tenant name or id taken already (409), writing nothing', async () => {
      const { store } = getFixture()
      const first = await store.createTenant({ name: 'acme', limits: { rpm: 1 } })
      const byName = await refusal(store.createTenant({ name: 'acme', limits: { rpm: 2 } }))
      expect([byName.status, byName.param]).toEqual([409, 'name'])
      const byId = await refusal(store.createTenant({ name: 'other', id: first.id }))
      expect([byId.status, byId.param]).toEqual([409, 'id'])
      expect(await store.listTenants({ includeDisabled: true })).toEqual([first])
    })

    it('refuses invalid settings naming the field, writing nothing', async () => {
      const { store } = getFixture()
      const cases: [unknown, string][] = [
        [{ name: '' }, 'name'],
        [{ name: 'has space' }, 'name'],
        [{ name: 'acme', limits: { rpm: -1 } }, 'limits.rpm'],
        [{ name: 'acme', limits: { tpm: 1.5 } }, 'limits.tpm'],
        [{ name: 'acme', limits: { concurrency: 0 } }, 'limits.concurrency'],
        [{ name: 'acme', budget: { microUsd: 'ten', period: 'month' } }, 'budget.microUsd'],
        [{ name: 'acme', budget: { microUsd: -5, period: 'month' } }, 'budget.microUsd'],
        [{ name: 'acme', budget: { microUsd: 5, period: 'year' } }, 'budget.period'],
        [{ name: 'acme', allowedModels: ['openai/*', ''] }, 'allowedModels.1'],
        [{ name: 'acme', metadata: { owner: 7 } }, 'metadata.owner'],
        // What PostgreSQL cannot store: refused on every backend alike, naming the field.
        [{ name: 'acme', metadata: { owner: 'a\u0000b' } }, 'metadata.owner'],
        [{ name: 'acme', metadata: { owner: '\ud83d' } }, 'metadata.owner'],
        [{ name: 'acme', metadata: { 'own\u0000er': 'a' } }, 'metadata'],
        [{ name: 'acme', allowedModels: ['gpt\u0000'] }, 'allowedModels.0'],
      ]
      for (const [input, param] of cases) {
        const error = await refusal(store.createTenant(input as never))
        expect([error.status, error.param]).toEqual([400, param])
      }
      expect(await store.listTenants({ includeDisabled: true })).toEqual([])
    })

    it('lists tenants by name, disabled ones only when asked; disabling is idempotent', async () => {
      const { store, clock } = getFixture()
      const zeta = await store.createTenant({ name: 'zeta' })
      const acme = await store.createTenant({ name: 'acme' })
      const mid = await store.createTenant({ name: 'mid' })
      expect((await store.listTenants()).map((tenant) => tenant.name)).toEqual([
        'acme',
        'mid',
        'zeta',
      ])

      const disabledAt = clock.now()
      expect((await store.disableTenant(mid.id))?.disabledAt).toBe(disabledAt)
      await clock.advance(minute)
      expect((await store.disableTenant(mid.id))?.disabledAt).toBe(disabledAt)
      expect((await store.listTenants()).map((tenant) => tenant.id)).toEqual([acme.id, zeta.id])
      expect(
        (await store.listTenants({ includeDisabled: true })).map((tenant) => tenant.id)
      ).toEqual([acme.id, mid.id, zeta.id])

      const enabled = await store.enableTenant(mid.id)
      expect(enabled).toMatchObject({ disabledAt: null, updatedAt: clock.now() })
      expect(await store.listTenants()).toHaveLength(3)
      expect(await store.disableTenant('ten_missing')).toBeNull()
      expect(await store.enableTenant('ten_missing')).toBeNull()
    })

    it('updates only what a patch names; a rename onto a taken name changes nothing', async () => {
      const { store, clock } = getFixture()
      const acme = await store.createTenant({
        name: 'acme',
        limits: { rpm: 60, tpm: 1_000 },
        budget: { microUsd: 10, period: 'day' },
        allowedModels: ['openai/*'],
        metadata: { owner: 'a' },
      })
      await store.createTenant({ name: 'taken' })
      await clock.advance(minute)

      const updated = await store.updateTenant(acme.id, {
        limits: { tpm: null, concurrency: 4 },
        budget: null,
      })
      expect(updated).toEqual({
        ...acme,
        limits: { rpm: 60, tpm: null, concurrency: 4 },
        budget: null,
        updatedAt: clock.now(),
      })
      const renamed = await store.updateTenant(acme.id, {
        name: 'acme-corp',
        allowedModels: null,
        metadata: {},
      })
      expect(renamed).toMatchObject({ name: 'acme-corp', allowedModels: null, metadata: {} })

      const error = await refusal(
        store.updateTenant(acme.id, { name: 'taken', limits: { rpm: 1 } })
      )
      expect([error.status, error.param]).toEqual([409, 'name'])
      expect(await store.getTenant(acme.id)).toEqual(renamed)
      const invalid = await refusal(store.updateTenant(acme.id, { limits: { rpm: -3 } }))
      expect(invalid.param).toBe('limits.rpm')
      expect(await store.updateTenant('ten_missing', { name: 'x' })).toBeNull()
    })

    it('stores a key as its hash and display prefix only, and finds it by hash with its tenant', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme', limits: { rpm: 100 } })
      const minted = await mintKey()
      const expiresAt = clock.now() + 30 * day
      const created = await store.createKey({
        tenantId: tenant.id,
        name: 'billing service',
        hash: minted.hash,
        displayPrefix: minted.displayPrefix,
        expiresAt,
        allowedModels: ['openai/gpt-4o*'],
        limits: { rpm: 60, tpm: 100_000, concurrency: 5 },
        budget: { microUsd: 50_000_000, period: 'week' },
        metadata: { team: 'billing' },
      })
      expect(created).toEqual({
        id: expect.stringMatching(/^key_[0-9a-f]{32}$/),
        tenantId: tenant.id,
        name: 'billing service',
        displayPrefix: minted.displayPrefix,
        allowedModels: ['openai/gpt-4o*'],
        limits: { rpm: 60, tpm: 100_000, concurrency: 5 },
        budget: { microUsd: 50_000_000, period: 'week' },
        metadata: { team: 'billing' },
        expiresAt,
        revokedAt: null,
        createdAt: clock.now(),
        updatedAt: clock.now(),
      })
      expect(JSON.stringify(created)).not.toContain(minted.key.slice(10))

      const lookup = await store.getKeyByHash(minted.hash)
      expect(lookup).toEqual({
        key: created,
        tenant,
        secret: { displayPrefix: minted.displayPrefix, createdAt: clock.now(), expiresAt: null },
      })
      expect(checkKeyLookup(lookup!, clock.now())).toBeNull()
      expect(await store.getKey(created.id)).toEqual(created)
      expect(await store.getKeyByHash(await hashApiKey(`${minted.key}x`))).toBeNull()
      expect(await store.getKeyByHash(minted.key)).toBeNull()
      expect(await store.getKey('key_missing')).toBeNull()
    })

    it('refuses a key for an unknown or disabled tenant, writing nothing', async () => {
      const { store } = getFixture()
      const minted = await mintKey()
      const unknown = await refusal(
        store.createKey({ tenantId: 'ten_missing', name: 'k', ...minted })
      )
      expect([unknown.code, unknown.status, unknown.param]).toEqual(['not_found', 404, 'tenantId'])
      const tenant = await store.createTenant({ name: 'acme' })
      await store.disableTenant(tenant.id)
      const disabled = await refusal(store.createKey({ tenantId: tenant.id, name: 'k', ...minted }))
      expect([disabled.status, disabled.param]).toEqual([400, 'tenantId'])
      expect(await store.getKeyByHash(minted.hash)).toBeNull()
      expect(await store.listKeys(tenant.id, { includeRevoked: true })).toEqual([])
    })

    it('refuses a hash taken already (409) and leaves no half-written key behind', async () => {
      const { store } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const first = await createKey(tenant.id)
      const error = await refusal(
        store.createKey({
          tenantId: tenant.id,
          id: 'key_second',
          name: 'second',
          hash: first.hash,
          displayPrefix: 'gh-second',
        })
      )
      expect([error.status, error.param]).toEqual([409, 'hash'])
      // The key row was written before its secret failed: the transaction took it back.
      expect(await store.getKey('key_second')).toBeNull()
      expect((await store.listKeys(tenant.id)).map((key) => key.id)).toEqual([first.id])
      expect((await store.getKeyByHash(first.hash))?.key.id).toBe(first.id)
    })

    it('refuses invalid key input naming the field, including an expiry in the past', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const minted = await mintKey()
      const base = { tenantId: tenant.id, name: 'k', ...minted }
      const cases: [unknown, string][] = [
        [{ ...base, expiresAt: clock.now() - 1 }, 'expiresAt'],
        [{ ...base, expiresAt: clock.now() }, 'expiresAt'],
        [{ ...base, hash: minted.key }, 'hash'],
        [{ ...base, name: '  ' }, 'name'],
        [{ ...base, name: 'ci\u0000' }, 'name'],
        [{ ...base, name: 'ci \udc00' }, 'name'],
        [{ ...base, limits: { tpm: -10 } }, 'limits.tpm'],
        [{ ...base, budget: { microUsd: 1.5, period: 'day' } }, 'budget.microUsd'],
      ]
      for (const [input, param] of cases) {
        const error = await refusal(store.createKey(input as CreateKeyInput))
        expect([error.status, error.param]).toEqual([400, param])
      }
      expect(await store.listKeys(tenant.id, { includeRevoked: true })).toEqual([])
    })

    it('finds nothing, rather than failing, for an id or name PostgreSQL cannot hold', async () => {
      const { store } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const { id } = await createKey(tenant.id)
      for (const odd of ['ten_\u0000', 'acme\u0000', '\ud800']) {
        expect(await store.getTenant(odd)).toBeNull()
        expect(await store.getTenantByName(odd)).toBeNull()
        expect(await store.updateTenant(odd, { limits: { rpm: 1 } })).toBeNull()
        expect(await store.disableTenant(odd)).toBeNull()
        expect(await store.enableTenant(odd)).toBeNull()
        expect(await store.listKeys(odd)).toEqual([])
      }
      for (const odd of [`${id}\u0000`, 'key_\udfff']) {
        expect(await store.getKey(odd)).toBeNull()
        expect(await store.updateKey(odd, { name: 'x' })).toBeNull()
        expect(await store.revokeKey(odd)).toBeNull()
        const minted = await mintKey()
        expect(await store.rotateKey(odd, { ...minted, graceUntil: 0 })).toBeNull()
      }
      expect(await store.getKey(id)).toMatchObject({ name: 'service', revokedAt: null })
    })

    it('returns an expired key with its expiry, so the caller refuses it', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const expiresAt = clock.now() + 10 * minute
      const { hash } = await createKey(tenant.id, { expiresAt })
      const lookup = (await store.getKeyByHash(hash))!
      expect(lookup.key.expiresAt).toBe(expiresAt)
      expect(keyLookupValidUntil(lookup)).toBe(expiresAt)
      expect(checkKeyLookup(lookup, expiresAt - 1)).toBeNull()
      await clock.advance(10 * minute)
      const later = (await store.getKeyByHash(hash))!
      expect(checkKeyLookup(later, clock.now())).toBe('expired')
    })

    it('revokes a key once: found with its revocation, listed only when asked', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const kept = await createKey(tenant.id)
      await clock.advance(1)
      const revoked = await createKey(tenant.id)
      const revokedAt = clock.now()
      expect((await store.revokeKey(revoked.id))?.revokedAt).toBe(revokedAt)
      await clock.advance(minute)
      expect((await store.revokeKey(revoked.id))?.revokedAt).toBe(revokedAt)
      expect(await store.revokeKey('key_missing')).toBeNull()

      const lookup = (await store.getKeyByHash(revoked.hash))!
      expect(checkKeyLookup(lookup, clock.now())).toBe('revoked')
      expect((await store.listKeys(tenant.id)).map((key) => key.id)).toEqual([kept.id])
      expect(
        (await store.listKeys(tenant.id, { includeRevoked: true })).map((key) => key.id)
      ).toEqual([kept.id, revoked.id])
      const rotate = await refusal(
        store.rotateKey(revoked.id, { ...(await mintKey()), graceUntil: clock.now() })
      )
      expect(rotate.status).toBe(400)
    })

    it('refuses every key of a disabled tenant through its lookup', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const { hash } = await createKey(tenant.id)
      await store.disableTenant(tenant.id)
      expect(checkKeyLookup((await store.getKeyByHash(hash))!, clock.now())).toBe('tenant-disabled')
      await store.enableTenant(tenant.id)
      expect(checkKeyLookup((await store.getKeyByHash(hash))!, clock.now())).toBeNull()
    })

    it('rotates a key: same id, new secret, the old one valid until the grace deadline', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const original = await createKey(tenant.id, { limits: { rpm: 5 } })
      const next = await mintKey()
      const graceUntil = clock.now() + 60 * minute
      await clock.advance(minute)
      const rotated = await store.rotateKey(original.id, { ...next, graceUntil })
      expect(rotated).toMatchObject({
        id: original.id,
        displayPrefix: next.displayPrefix,
        limits: { rpm: 5 },
        updatedAt: clock.now(),
      })

      const current = (await store.getKeyByHash(next.hash))!
      expect(current.key.id).toBe(original.id)
      expect(current.secret).toEqual({
        displayPrefix: next.displayPrefix,
        createdAt: clock.now(),
        expiresAt: null,
      })
      const old = (await store.getKeyByHash(original.hash))!
      expect(old.key.id).toBe(original.id)
      expect(old.secret.expiresAt).toBe(graceUntil)
      expect(keyLookupValidUntil(old)).toBe(graceUntil)
      expect(checkKeyLookup(old, graceUntil - 1)).toBeNull()
      expect(checkKeyLookup(old, graceUntil)).toBe('rotated')

      // A second rotation never extends a grace already given, and ends the second secret's at its own deadline.
      const third = await mintKey()
      await store.rotateKey(original.id, { ...third, graceUntil: graceUntil + 60 * minute })
      expect((await store.getKeyByHash(original.hash))!.secret.expiresAt).toBe(graceUntil)
      expect((await store.getKeyByHash(next.hash))!.secret.expiresAt).toBe(graceUntil + 60 * minute)
      expect((await store.getKeyByHash(third.hash))!.secret.expiresAt).toBeNull()
      expect(await store.rotateKey('key_missing', { ...(await mintKey()), graceUntil })).toBeNull()
    })

    it('a rotation that fails on a taken hash leaves the old secret untouched', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const one = await createKey(tenant.id)
      const other = await createKey(tenant.id)
      const error = await refusal(
        store.rotateKey(one.id, {
          hash: other.hash,
          displayPrefix: 'gh-clash',
          graceUntil: clock.now(),
        })
      )
      expect([error.status, error.param]).toEqual([409, 'hash'])
      const lookup = (await store.getKeyByHash(one.hash))!
      expect(lookup.secret.expiresAt).toBeNull()
      expect(lookup.key.displayPrefix).not.toBe('gh-clash')
      expect((await store.getKeyByHash(other.hash))!.key.id).toBe(other.id)
    })

    it('refuses to rotate an expired key (its new secret would be refused too), changing nothing', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const one = await createKey(tenant.id, { expiresAt: clock.now() + minute })
      await clock.advance(minute)
      const minted = await mintKey()
      const error = await refusal(store.rotateKey(one.id, { ...minted, graceUntil: clock.now() }))
      expect([error.status, error.param]).toEqual([400, 'id'])
      expect(error.message).toMatch(/expired/)
      expect(await store.getKeyByHash(minted.hash)).toBeNull()
      expect((await store.getKeyByHash(one.hash))!.secret.expiresAt).toBeNull()
    })

    it('rotating with no grace ends the old secret at once', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const original = await createKey(tenant.id)
      await store.rotateKey(original.id, { ...(await mintKey()), graceUntil: clock.now() })
      expect(checkKeyLookup((await store.getKeyByHash(original.hash))!, clock.now())).toBe(
        'rotated'
      )
    })

    it('updates a key: named fields only, limits one by one, no expiry in the past', async () => {
      const { store, clock } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const { id, hash } = await createKey(tenant.id, {
        limits: { rpm: 10, tpm: 1_000 },
        metadata: { a: '1' },
      })
      const before = (await store.getKey(id))!
      await clock.advance(minute)
      const expiresAt = clock.now() + day
      const updated = await store.updateKey(id, {
        name: 'renamed',
        limits: { rpm: null },
        budget: { microUsd: 0, period: 'total' },
        allowedModels: ['anthropic/*'],
        expiresAt,
      })
      expect(updated).toEqual({
        ...before,
        name: 'renamed',
        limits: { rpm: null, tpm: 1_000, concurrency: null },
        budget: { microUsd: 0, period: 'total' },
        allowedModels: ['anthropic/*'],
        expiresAt,
        updatedAt: clock.now(),
      })
      expect((await store.getKeyByHash(hash))!.key).toEqual(updated)
      expect((await store.updateKey(id, { expiresAt: null }))!.expiresAt).toBeNull()
      const past = await refusal(store.updateKey(id, { expiresAt: clock.now() - 1 }))
      expect(past.param).toBe('expiresAt')
      expect(await store.updateKey('key_missing', { name: 'x' })).toBeNull()
    })

    it('loses no change when patches of different limits arrive at once', async () => {
      const { store } = getFixture()
      const tenant = await store.createTenant({ name: 'acme' })
      const { id } = await createKey(tenant.id)
      for (let round = 1; round <= 5; round += 1) {
        await Promise.all([
          store.updateTenant(tenant.id, { limits: { rpm: round } }),
          store.updateTenant(tenant.id, { limits: { tpm: round * 10 } }),
          store.updateTenant(tenant.id, { limits: { concurrency: round * 100 } }),
          store.updateKey(id, { limits: { rpm: round } }),
          store.updateKey(id, { limits: { tpm: round * 10 } }),
          store.updateKey(id, { metadata: { round: String(round) } }),
        ])
        expect((await store.getTenant(tenant.id))?.limits).toEqual({
          rpm: round,
          tpm: round * 10,
          concurrency: round * 100,
        })
        expect(await store.getKey(id)).toMatchObject({
          limits: { rpm: round, tpm: round * 10, concurrency: null },
          metadata: { round: String(round) },
        })
      }
    })

    it('lists a tenant’s keys oldest first, and no other tenant’s', async () => {
      const { store, clock } = getFixture()
      const acme = await store.createTenant({ name: 'acme' })
      const other = await store.createTenant({ name: 'other' })
      const first = await createKey(acme.id)
      await clock.advance(1)
      await createKey(other.id)
      const second = await createKey(acme.id)
      expect((await store.listKeys(acme.id)).map((key) => key.id)).toEqual([first.id, second.id])
      expect(await store.listKeys('ten_missing')).toEqual([])
    })

    it('lists every tenant’s keys in one read with null, oldest first, revoked ones only when asked', async () => {
      const { store, clock } = getFixture()
      const acme = await store.createTenant({ name: 'acme' })
      const other = await store.createTenant({ name: 'other' })
      const first = await createKey(other.id)
      await clock.advance(1)
      const second = await createKey(acme.id)
      await clock.advance(1)
      const third = await createKey(other.id)
      await store.revokeKey(second.id)
      expect((await store.listKeys(null)).map((key) => key.id)).toEqual([first.id, third.id])
      expect(
        (await store.listKeys(null, { includeRevoked: true })).map((key) => [key.id, key.tenantId])
      ).toEqual([
        [first.id, other.id],
        [second.id, acme.id],
        [third.id, other.id],
      ])
    })
  },
})
