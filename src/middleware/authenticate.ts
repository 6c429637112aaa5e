/**
 * Resolves the caller from `Authorization: Bearer <key>` or `x-api-key: <key>`.
 * Today the only principal is the master key; per-tenant keys (ROADMAP 1) add an `Authenticator` backed by a KeyStore.
 */
export type Principal = {
  kind: 'master'
  /** Stable id for logs and, later, usage records. */
  id: string
}

export interface Authenticator {
  /** `null` = the key is not valid. */
  authenticate(key: string): Promise<Principal | null>
}
