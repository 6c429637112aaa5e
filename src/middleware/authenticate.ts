/**
 * Resolves the caller from `Authorization: Bearer <key>` or `x-api-key: <key>`.
 * Today the only principal is the master key; per-tenant keys add an `Authenticator` backed by a key store.
 */
import type { Principal } from '../core/principal.ts'

export type { Principal } from '../core/principal.ts'

export interface Authenticator {
  /** `null` = the key is not valid. */
  authenticate(key: string): Promise<Principal | null>
}
