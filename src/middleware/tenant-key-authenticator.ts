/**
 * Authenticates tenant keys (`gh-…`) against the tenant store, and anything else, or a key the store does not know,
 * against the master key. A key is
 * looked up by the SHA-256 of what was presented (the store compares hashes in constant time, and never holds a
 * key), and refused when revoked, expired, past its rotation grace or its tenant disabled, with the same 401 as an
 * unknown key, so a response never tells whether a key exists. While the store fails, the master key still gets in.
 *
 * A key that passed is remembered for `cacheTtlMs` (never past its expiry or rotation deadline), so the hot path
 * skips the digest and the store. Requests that find a key not remembered share one lookup while it is in flight (a
 * busy key's requests at start, and again each time its memory runs out, would otherwise each query the store), but
 * never one that began before the last notice: a request after a revocation always reads the store anew. A remembered key stays correct across instances through the revocation feed: a
 * change to a key or its tenant anywhere evicts it here, and a lookup that was in flight when a notice came is not
 * remembered. While the feed is not live (Redis reconnecting: notices may be missed) nothing is remembered, and a
 * reconnect (`reset`) forgets everything, so a revoked key is refused everywhere within the feed's delivery time.
 */
import { GatewayError } from '../core/errors.ts'
import { isApiKeyShaped } from '../core/generate-api-key.ts'
import { hashApiKey } from '../core/hash-api-key.ts'
import type { Clock } from '../core/clock.ts'
import type { Principal } from '../core/principal.ts'
import type { RevocationFeed } from '../stores/revocation-feed.ts'
import { checkKeyLookup, keyLookupValidUntil } from '../stores/tenant-store.ts'
import type { KeyLookup, TenantStore } from '../stores/tenant-store.ts'
import type { Authenticator } from './authenticate.ts'

/** A tenant key that cannot be checked because the tenant store failed: the store's outage, not the gateway's bug. */
export const keyStoreUnavailable = (cause: unknown): GatewayError =>
  new GatewayError(
    'unavailable',
    'The key store is unavailable: tenant keys cannot be checked right now. Retry shortly.',
    { status: 503, retryAfterMs: 1_000, cause }
  )

type Remembered = { principal: Principal; keyId: string; tenantId: string; until: number }

/** Keys remembered at most; past it the oldest is forgotten. */
const maxRemembered = 10_000

const principalOf = (lookup: KeyLookup): Principal => ({
  kind: 'key',
  id: lookup.key.id,
  tenantId: lookup.tenant.id,
  access: {
    keyName: lookup.key.name,
    key: {
      allowedModels: lookup.key.allowedModels,
      limits: lookup.key.limits,
      budget: lookup.key.budget,
      metadata: lookup.key.metadata,
    },
    tenant: {
      allowedModels: lookup.tenant.allowedModels,
      limits: lookup.tenant.limits,
      budget: lookup.tenant.budget,
      metadata: lookup.tenant.metadata,
    },
  },
})

export const createTenantKeyAuthenticator = (options: {
  master: Authenticator
  tenants: Pick<TenantStore, 'getKeyByHash'>
  revocations: RevocationFeed
  clock: Clock
  /** How long a key that passed is remembered (default 10 s). */
  cacheTtlMs?: number
}): Authenticator & { forget(): void } => {
  const { master, tenants, revocations, clock } = options
  const cacheTtlMs = options.cacheTtlMs ?? 10_000
  const remembered = new Map<string, Remembered>()
  /** Lookups in flight, by key, with the generation they began in. */
  const inFlight = new Map<string, { generation: number; principal: Promise<Principal | null> }>()
  /** Bumped by every notice: a lookup that began before one is not remembered. */
  let generation = 0
  revocations.subscribe((event) => {
    generation += 1
    if (event.kind === 'reset') {
      remembered.clear()
      return
    }
    for (const [key, entry] of remembered) {
      if (event.kind === 'key' ? entry.keyId === event.id : entry.tenantId === event.id)
        remembered.delete(key)
    }
  })
  /** A key not remembered: looked up in the store (and remembered when it passes). */
  const lookUp = async (key: string): Promise<Principal | null> => {
    const startedAt = generation
    let lookup: KeyLookup | null
    try {
      lookup = await tenants.getKeyByHash(await hashApiKey(key))
    } catch (error) {
      // The store is down. The master key (the generated one has this shape too) must still get in: the operator
      // needs the gateway most then. Any other key gets a 503 that says why (not an internal error), which the
      // clients retry.
      const principal = await master.authenticate(key)
      if (principal !== null) return principal
      throw keyStoreUnavailable(error)
    }
    // A master key may have a tenant key's shape (both are `gh-` and random characters).
    if (lookup === null) return master.authenticate(key)
    const checkedAt = clock.now()
    // Refused as an unknown key is, with the same work: the master key's check an unknown key gets (which fails
    // here, the master key being no tenant's), so the time taken does not tell that the key exists.
    if (checkKeyLookup(lookup, checkedAt) !== null) return master.authenticate(key)
    const principal = principalOf(lookup)
    if (revocations.live() && generation === startedAt) {
      const validUntil = keyLookupValidUntil(lookup)
      if (remembered.size >= maxRemembered)
        remembered.delete(remembered.keys().next().value as string)
      remembered.set(key, {
        principal,
        keyId: lookup.key.id,
        tenantId: lookup.tenant.id,
        until: Math.min(checkedAt + cacheTtlMs, validUntil ?? Number.POSITIVE_INFINITY),
      })
    }
    return principal
  }
  return {
    authenticate(key) {
      // A remembered key first: only a tenant key that passed is remembered, so it needs no check of its shape (a
      // regular expression over the whole key, on every request of a busy key).
      const entry = remembered.get(key)
      if (entry !== undefined) {
        if (entry.until > clock.now()) return entry.principal
        remembered.delete(key)
      }
      if (!isApiKeyShaped(key)) return master.authenticate(key)
      const shared = inFlight.get(key)
      if (shared !== undefined && shared.generation === generation) return shared.principal
      const lookup = { generation, principal: lookUp(key) }
      inFlight.set(key, lookup)
      const done = (): void => {
        if (inFlight.get(key) === lookup) inFlight.delete(key)
      }
      lookup.principal.then(done, done)
      return lookup.principal
    },
    forget: () => remembered.clear(),
  }
}
