/**
 * Who a request acts for, as authentication resolved it. Limits, budgets, usage, the response store and the cache
 * scope all key on it, so it travels with the call (`ChatCall.principal`) and into every usage event.
 */
export type Principal = {
  /** `master`: the operator's master key; `key`: a tenant's API key (the tenants issue). */
  kind: 'master' | 'key'
  /** Stable id for logs and usage records: `master`, or the key's id. */
  id: string
  /** The tenant a key belongs to; `null` for the master key. */
  tenantId: string | null
}

export const masterPrincipal: Principal = { kind: 'master', id: 'master', tenantId: null }
