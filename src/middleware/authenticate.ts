/**
 * Resolves the caller from `Authorization: Bearer <key>` or `x-api-key: <key>`: the master key
 * (`master-key-authenticator.ts`), or a tenant's key from the key store (`tenant-key-authenticator.ts`).
 */
import type { Principal } from '../core/principal.ts'

export type { Principal } from '../core/principal.ts'

export interface Authenticator {
  /**
   * `null` = the key is not valid. A key the authenticator remembers (checked a moment ago) is answered directly, not
   * through a promise: that is every request but a key's first, and an asynchronous step costs each of them.
   */
  authenticate(key: string): Principal | null | Promise<Principal | null>
}
