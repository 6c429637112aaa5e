/**
 * The admin API under `/admin/v1`: tenants, keys, everyone's usage, prompt cache purges and the local models'
 * versions, for the master key only. A missing or wrong key is a 401 as on `/v1`; a tenant key is a 403. Without a
 * database (Workers) the tenant, key and usage routes answer 501; without a prompt cache (off in the config) the cache
 * routes do; model versions are listed empty where no local model runs.
 */
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { registerAdminUsage } from '../usage/usage.route.ts'
import { registerCacheRoutes } from './cache.route.ts'
import { registerKeyRoutes } from './keys.route.ts'
import { registerModelVersionRoutes } from './models.route.ts'
import { requireMasterKey } from './require-master-key.ts'
import { registerTenantRoutes } from './tenants.route.ts'

/** `admit`: the app's `admitRequest` (body limit and key), shared with `/v1`. */
export const registerAdminRoutes = (
  app: OpenAPIHono<GatewayEnv>,
  deps: Deps,
  admit: MiddlewareHandler<GatewayEnv>
): void => {
  app.use('/admin/*', admit)
  app.use('/admin/*', requireMasterKey)
  registerTenantRoutes(app, deps)
  registerKeyRoutes(app, deps)
  registerAdminUsage(app, deps)
  registerCacheRoutes(app, deps)
  registerModelVersionRoutes(app, deps)
}
