/**
 * The stores the admin and usage routes need, or the 501 that says why they are missing: a runtime without a
 * database (Cloudflare Workers) has no tenants, keys or usage store and serves in master-key mode.
 */
import { GatewayError } from '../../core/errors.ts'
import type { Stores } from '../../stores/types.ts'

const unavailable = (what: string): GatewayError =>
  new GatewayError(
    'unavailable',
    `${what} need a database, which this runtime does not have: the gateway serves in master-key mode here (on Cloudflare Workers, always). Run it on Node for tenants, keys and usage.`,
    { status: 501, openaiCode: 'not_implemented' }
  )

export const requireStore = <K extends keyof Stores>(
  stores: Stores,
  name: K,
  what: string
): NonNullable<Stores[K]> => {
  const store = stores[name]
  if (store === undefined) throw unavailable(what)
  return store as NonNullable<Stores[K]>
}
