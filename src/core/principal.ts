/**
 * Who a request acts for, as authentication resolved it. Limits, budgets, usage, the response store and the cache
 * scope all key on it, so it travels with the call (`ChatCall.principal`) and into every usage event.
 */
import type { AccessSettings } from '../stores/tenant-store.ts'

/** What a tenant key may do: its own settings and its tenant's, both of which apply. */
export type KeyAccess = {
  keyName: string
  key: AccessSettings
  tenant: AccessSettings
}

export type Principal = {
  /** `master`: the operator's master key; `key`: a tenant's API key. */
  kind: 'master' | 'key'
  /** Stable id for logs and usage records: `master`, or the key's id. */
  id: string
  /** The tenant a key belongs to; `null` for the master key. */
  tenantId: string | null
  /** A tenant key's model list, limits and budget (its own and its tenant's); `null` for the master key. */
  access: KeyAccess | null
}

export const masterPrincipal: Principal = {
  kind: 'master',
  id: 'master',
  tenantId: null,
  access: null,
}
