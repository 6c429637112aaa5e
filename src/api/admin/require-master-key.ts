import type { MiddlewareHandler } from 'hono'
import { GatewayError } from '../../core/errors.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'

/**
 * After `admitRequest`: the admin API is the operator's, so a tenant's key, however valid, gets a 403 (not a
 * 401: the key is fine, this is not its place).
 */
export const requireMasterKey: MiddlewareHandler<GatewayEnv> = async function requireMasterKey(
  c,
  next
) {
  if (c.get('principal')?.kind !== 'master')
    throw new GatewayError(
      'permission',
      'The admin API takes the master key only; a tenant key cannot manage tenants, keys, usage, the prompt cache or model versions.',
      { openaiCode: 'insufficient_permissions' }
    )
  await next()
}
