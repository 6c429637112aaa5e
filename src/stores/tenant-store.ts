/**
 * Tenants and their API keys: who may call the gateway, with which models, how fast and for how much. One store for
 * both, since a key is always read with its tenant (a key of a disabled tenant is refused) and written in the same
 * transactions (a key for an unknown tenant is refused, with nothing written).
 *
 * A key is never stored: only the SHA-256 of each of its secrets (`hashApiKey`) and a display prefix. Rotation gives
 * a key a new secret and keeps its id, so its usage, limits and budget carry on; the old secret keeps working until
 * the grace deadline the caller chose. The store reports expiry, revocation and the tenant's state with every lookup
 * (`checkKeyLookup`): refusing is the caller's decision, taken against its clock.
 *
 * Methods that name a missing tenant or key resolve `null`; invalid input and conflicts throw `GatewayError`s whose
 * `param` names the field (`invalid_request`, 409 for a name or hash already taken, `not_found` for the tenant of a
 * new key).
 */

/** Requests per minute, tokens per minute, requests in flight. `null`: no limit of that kind. */
export type Limits = {
  rpm: number | null
  tpm: number | null
  concurrency: number | null
}

/** Calendar periods are UTC: a day from midnight, a week from Monday, a month from the 1st. */
export type BudgetPeriod = 'day' | 'week' | 'month' | 'total'

export const budgetPeriods: readonly BudgetPeriod[] = ['day', 'week', 'month', 'total']

export type Budget = {
  /** Integer micro-USD (1 USD = 1,000,000). */
  microUsd: number
  period: BudgetPeriod
}

/** What tenants and keys both carry. */
export type AccessSettings = {
  /** Model patterns (`openai/*`, `anthropic/claude-*`); `null`: every model. */
  allowedModels: string[] | null
  limits: Limits
  budget: Budget | null
  /** Free-form labels for the operator (owner, cost centre). */
  metadata: Record<string, string>
}

/** Settings as a caller gives them: absent ones keep their value (or default to none); only named limits change. */
export type AccessSettingsInput = Partial<Omit<AccessSettings, 'limits'>> & {
  limits?: Partial<Limits>
}

export type TenantRecord = AccessSettings & {
  id: string
  /** Unique, what the CLI and admin API name a tenant by (`acme`). */
  name: string
  /** Epoch ms; `null` while active. A disabled tenant's keys are refused. */
  disabledAt: number | null
  createdAt: number
  updatedAt: number
}

/** One secret of a key, as stored: never the secret itself. */
export type ApiKeySecret = {
  /** `gh-Ab3xY9`: enough to tell keys apart in a list. */
  displayPrefix: string
  createdAt: number
  /** Epoch ms after which this secret no longer authenticates; `null` for the current secret. Set by rotation. */
  expiresAt: number | null
}

export type ApiKeyRecord = AccessSettings & {
  id: string
  tenantId: string
  name: string
  /** The current secret's display prefix. */
  displayPrefix: string
  /** Epoch ms after which the key is refused; `null`: never. */
  expiresAt: number | null
  /** Epoch ms of the revocation; `null` while not revoked. */
  revokedAt: number | null
  createdAt: number
  updatedAt: number
}

/** What a lookup by hash finds: the key, its tenant and the secret that matched. */
export type KeyLookup = {
  key: ApiKeyRecord
  tenant: TenantRecord
  secret: ApiKeySecret
}

export type CreateTenantInput = AccessSettingsInput & {
  name: string
  /** Chosen by the store (`ten_…`) when absent. */
  id?: string
}

export type UpdateTenantInput = AccessSettingsInput & {
  name?: string
}

export type CreateKeyInput = AccessSettingsInput & {
  tenantId: string
  name: string
  /** `hashApiKey(key)`: the key itself never reaches the store. */
  hash: string
  displayPrefix: string
  expiresAt?: number | null
  /** Chosen by the store (`key_…`) when absent. */
  id?: string
}

export type UpdateKeyInput = AccessSettingsInput & {
  name?: string
  expiresAt?: number | null
}

export type RotateKeyInput = {
  /** The new secret's hash and display prefix. */
  hash: string
  displayPrefix: string
  /** Epoch ms until which the secrets in use so far keep working (now, or earlier, ends them at once). */
  graceUntil: number
}

export interface TenantStore {
  createTenant(input: CreateTenantInput): Promise<TenantRecord>
  getTenant(id: string): Promise<TenantRecord | null>
  getTenantByName(name: string): Promise<TenantRecord | null>
  /** Ordered by name; disabled tenants only when asked for. */
  listTenants(options?: { includeDisabled?: boolean }): Promise<TenantRecord[]>
  updateTenant(id: string, patch: UpdateTenantInput): Promise<TenantRecord | null>
  /** Idempotent: a tenant disabled already keeps its first `disabledAt`. */
  disableTenant(id: string): Promise<TenantRecord | null>
  enableTenant(id: string): Promise<TenantRecord | null>

  /** Refused (`not_found`, param `tenantId`) for an unknown tenant, (`invalid_request`) for a disabled one. */
  createKey(input: CreateKeyInput): Promise<ApiKeyRecord>
  getKey(id: string): Promise<ApiKeyRecord | null>
  /** Finds revoked and expired keys too (see `checkKeyLookup`); the stored hash is compared in constant time. */
  getKeyByHash(hash: string): Promise<KeyLookup | null>
  /**
   * The tenant's keys, or with `null` every tenant's (one read, whatever the number of tenants); ordered by creation,
   * oldest first; revoked keys only when asked for.
   */
  listKeys(tenantId: string | null, options?: { includeRevoked?: boolean }): Promise<ApiKeyRecord[]>
  updateKey(id: string, patch: UpdateKeyInput): Promise<ApiKeyRecord | null>
  /** Idempotent: a key revoked already keeps its first `revokedAt`. */
  revokeKey(id: string): Promise<ApiKeyRecord | null>
  /** Adds a secret and ends the current ones at `graceUntil`. A revoked key cannot be rotated (`invalid_request`). */
  rotateKey(id: string, input: RotateKeyInput): Promise<ApiKeyRecord | null>
}

export type KeyRefusal = 'revoked' | 'expired' | 'rotated' | 'tenant-disabled'

/**
 * Why a looked-up key must be refused at `now`, or `null` when it may be used. Kept beside the store so every caller
 * (the authenticator, a positive cache re-checking an entry) applies the same rules.
 */
export const checkKeyLookup = (lookup: KeyLookup, now: number): KeyRefusal | null => {
  if (lookup.key.revokedAt !== null && lookup.key.revokedAt <= now) return 'revoked'
  if (lookup.tenant.disabledAt !== null && lookup.tenant.disabledAt <= now) return 'tenant-disabled'
  if (lookup.key.expiresAt !== null && lookup.key.expiresAt <= now) return 'expired'
  if (lookup.secret.expiresAt !== null && lookup.secret.expiresAt <= now) return 'rotated'
  return null
}

/**
 * The first instant the lookup stops being usable by time alone (expiry or the end of a rotation grace), or `null`:
 * a positive cache must not keep an entry past it.
 */
export const keyLookupValidUntil = (lookup: KeyLookup): number | null => {
  const deadlines = [lookup.key.expiresAt, lookup.secret.expiresAt].filter(
    (value): value is number => value !== null
  )
  return deadlines.length === 0 ? null : Math.min(...deadlines)
}
