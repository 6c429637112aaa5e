import { describe, expect, it } from 'vitest'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { generateApiKey } from '../core/generate-api-key.ts'
import { hashApiKey } from '../core/hash-api-key.ts'
import { createMemoryRevocationFeed } from '../stores/memory/memory-revocation-feed.ts'
import type { KeyLookup } from '../stores/tenant-store.ts'
import { createMasterKeyAuthenticator } from './master-key-authenticator.ts'
import { createTenantKeyAuthenticator } from './tenant-key-authenticator.ts'

const settings = {
  allowedModels: ['openai/*'],
  limits: { rpm: 60, tpm: null, concurrency: null },
  budget: null,
  metadata: {},
}

const lookupOf = (overrides: { revokedAt?: number | null; expiresAt?: number | null } = {}) =>
  ({
    key: {
      ...settings,
      id: 'key_1',
      tenantId: 'ten_1',
      name: 'ci',
      displayPrefix: 'gh-abcdef',
      expiresAt: overrides.expiresAt ?? null,
      revokedAt: overrides.revokedAt ?? null,
      createdAt: 0,
      updatedAt: 0,
    },
    tenant: {
      ...settings,
      id: 'ten_1',
      name: 'acme',
      disabledAt: null,
      createdAt: 0,
      updatedAt: 0,
    },
    secret: { displayPrefix: 'gh-abcdef', createdAt: 0, expiresAt: null },
  }) satisfies KeyLookup

const setup = async (
  lookup: KeyLookup | null = lookupOf(),
  onMasterCheck: (key: string) => void = () => {}
) => {
  const clock = createFakeClock()
  const revocations = createMemoryRevocationFeed()
  const { key } = generateApiKey()
  const hash = await hashApiKey(key)
  const store = {
    lookup,
    calls: 0,
    /** Resolves the next lookup only when `release` is called, when set. */
    hold: null as Promise<void> | null,
    /** Holds the lookups from now on; the function returned lets them go. */
    holdLookups: (): (() => void) => {
      let release: () => void = () => {}
      store.hold = new Promise((resolve) => (release = resolve))
      return release
    },
    getKeyByHash: async (asked: string) => {
      store.calls += 1
      if (store.hold !== null) await store.hold
      return asked === hash ? store.lookup : null
    },
  }
  const masterKey = generateApiKey().key
  const master = createMasterKeyAuthenticator(masterKey)
  const authenticator = createTenantKeyAuthenticator({
    master: {
      authenticate: (key) => {
        onMasterCheck(key)
        return master.authenticate(key)
      },
    },
    tenants: store,
    revocations,
    clock,
    cacheTtlMs: 1_000,
  })
  return { clock, revocations, key, store, authenticator, masterKey }
}

describe('createTenantKeyAuthenticator', () => {
  it("resolves a tenant key to its principal, with its and its tenant's settings", async () => {
    const { key, authenticator } = await setup()
    expect(await authenticator.authenticate(key)).toMatchObject({
      kind: 'key',
      id: 'key_1',
      tenantId: 'ten_1',
      access: {
        keyName: 'ci',
        key: { allowedModels: ['openai/*'] },
        tenant: { limits: { rpm: 60 } },
      },
    })
  })

  it('remembers a key for the TTL only', async () => {
    const { clock, key, store, authenticator } = await setup()
    await authenticator.authenticate(key)
    await authenticator.authenticate(key)
    expect(store.calls).toBe(1)
    await clock.advance(1_000)
    await authenticator.authenticate(key)
    expect(store.calls).toBe(2)
  })

  it('refuses revoked and expired keys as it refuses unknown ones (null)', async () => {
    const revoked = await setup(lookupOf({ revokedAt: Date.UTC(2025, 0, 1) }))
    expect(await revoked.authenticator.authenticate(revoked.key)).toBeNull()
    const expired = await setup(lookupOf({ expiresAt: Date.UTC(2025, 0, 1) }))
    expect(await expired.authenticator.authenticate(expired.key)).toBeNull()
    const unknown = await setup(null)
    expect(await unknown.authenticator.authenticate(unknown.key)).toBeNull()
  })

  it('does the same work for a revoked key as for an unknown one, so timing does not tell them apart', async () => {
    // An unknown key is checked against the master key after the store missed; a refused one must pay that too.
    const masterChecks: string[] = []
    const counting = (lookup: KeyLookup | null) =>
      setup(lookup, (key) => {
        masterChecks.push(key)
      })
    const unknown = await counting(null)
    expect(await unknown.authenticator.authenticate(unknown.key)).toBeNull()
    const revoked = await counting(lookupOf({ revokedAt: Date.UTC(2025, 0, 1) }))
    expect(await revoked.authenticator.authenticate(revoked.key)).toBeNull()
    expect(masterChecks).toEqual([unknown.key, revoked.key])
  })

  it('never remembers a key past its expiry', async () => {
    const expiresAt = Date.UTC(2026, 0, 1) + 300
    const { clock, key, authenticator } = await setup(lookupOf({ expiresAt }))
    expect(await authenticator.authenticate(key)).not.toBeNull()
    await clock.advance(300)
    expect(await authenticator.authenticate(key)).toBeNull()
  })

  it('forgets a key when the feed says it or its tenant changed', async () => {
    const { key, store, revocations, authenticator } = await setup()
    await authenticator.authenticate(key)
    store.lookup = lookupOf({ revokedAt: Date.UTC(2025, 0, 1) })
    await revocations.publish({ kind: 'key', id: 'key_1' })
    expect(await authenticator.authenticate(key)).toBeNull()
    store.lookup = lookupOf()
    await authenticator.authenticate(key)
    const calls = store.calls
    await revocations.publish({ kind: 'tenant', id: 'ten_1' })
    await authenticator.authenticate(key)
    expect(store.calls).toBe(calls + 1)
  })

  it('does not remember a lookup that was in flight when a notice came', async () => {
    const { key, store, revocations, authenticator } = await setup()
    const release = store.holdLookups()
    const pending = authenticator.authenticate(key)
    await revocations.publish({ kind: 'key', id: 'key_1' })
    release()
    await pending
    store.hold = null
    await authenticator.authenticate(key)
    expect(store.calls).toBe(2)
  })

  it('shares one lookup among the requests that find a key not remembered at once', async () => {
    const { key, store, authenticator } = await setup()
    const release = store.holdLookups()
    const pending = Array.from({ length: 10 }, () => authenticator.authenticate(key))
    release()
    const principals = await Promise.all(pending)
    expect(store.calls).toBe(1)
    expect(new Set(principals).size).toBe(1)
    expect(principals[0]).toMatchObject({ id: 'key_1' })
  })

  it('never shares a lookup that began before a notice: the next request reads the store anew', async () => {
    const { key, store, revocations, authenticator } = await setup()
    const release = store.holdLookups()
    const before = authenticator.authenticate(key)
    await revocations.publish({ kind: 'key', id: 'key_1' })
    store.lookup = lookupOf({ revokedAt: 1 })
    const after = authenticator.authenticate(key)
    release()
    await before
    expect(await after).toBeNull()
    expect(store.calls).toBe(2)
  })

  it('lets a failed lookup go, so the next request tries the store again', async () => {
    const { key, store, authenticator } = await setup()
    const lookups = store.getKeyByHash
    store.getKeyByHash = async () => {
      store.calls += 1
      throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
    }
    await expect(
      Promise.all([authenticator.authenticate(key), authenticator.authenticate(key)])
    ).rejects.toMatchObject({
      status: 503,
      cause: { message: expect.stringMatching(/ECONNREFUSED/) },
    })
    expect(store.calls).toBe(1)
    store.getKeyByHash = lookups
    expect(await authenticator.authenticate(key)).toMatchObject({ id: 'key_1' })
    expect(store.calls).toBe(2)
  })

  it('accepts the master key while the tenant store is down; a tenant key gets a 503 that says why', async () => {
    // The master key the gateway generates has a tenant key's shape, so it is looked up first: a database outage
    // must not lock the operator out of the gateway it is trying to mend.
    const { key, masterKey, store, authenticator } = await setup()
    store.getKeyByHash = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
    }
    expect(await authenticator.authenticate(masterKey)).toMatchObject({ kind: 'master' })
    // The store's outage, not an internal error of the gateway's: a 503 the clients retry, after a second.
    await expect(authenticator.authenticate(key)).rejects.toMatchObject({
      code: 'unavailable',
      status: 503,
      retryAfterMs: 1_000,
      message: expect.stringContaining('key store is unavailable'),
    })
  })

  it('accepts the master key, even one shaped like a tenant key', async () => {
    const { masterKey, authenticator } = await setup()
    expect(await authenticator.authenticate(masterKey)).toMatchObject({ kind: 'master' })
    expect(await authenticator.authenticate('not-a-key')).toBeNull()
  })
})
