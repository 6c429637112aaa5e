/**
 * Prompt cache purges: `DELETE /admin/v1/cache/entries/{key}` (one entry, by the `x-gatehouse-cache-key` a response
 * gave) and `POST /admin/v1/cache/purge` with exactly one of `key`, `tenant`, `model` (`provider/model`, as the entries
 * are labelled: the provider instance and upstream model of the target that answered) or `all: true`. Both answer how
 * many entries were removed; a key that is not there (never stored, expired, evicted) is a 0, not an error, while a
 * tenant that does not exist is a 404 and a model no provider could have answered a 400, since those are typos.
 *
 * What a purge reaches is the store's: with Redis, every instance of the deployment; with the memory backend, the
 * process (or Workers isolate) that answered the purge, and, where Redis is configured, every other process as it
 * hears the purge relayed (`redis-purge-relay.ts`). A request in flight when the purge runs may still store its
 * answer after it.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi'
import { GatewayError, invalidRequest } from '../../core/errors.ts'
import type { ResolvedConfig } from '../../core/resolve-config.ts'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import type { CachePurge, CacheStore } from '../../stores/cache-store.ts'
import { openAIErrorSchema } from '../openai/openai-schemas.ts'
import { adminErrorResponses } from './admin-error-responses.ts'
import {
  cacheEntryParamsSchema,
  cachePurgeResultSchema,
  cachePurgeSchema,
  type CachePurgeBody,
  type WireCachePurge,
} from './admin-schemas.ts'
import { requireTenant } from './find-tenant.ts'
import { requireStore } from './require-store.ts'

const common = { tags: ['Admin'], security: [{ bearerAuth: [] }] }
const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })
const errorContent = json(openAIErrorSchema)

const cacheErrorResponses = {
  ...adminErrorResponses,
  404: { description: 'No such tenant (`tenant`)', ...errorContent },
  501: {
    description:
      'The prompt cache is off in this deployment; or (a purge by tenant) no database in this runtime',
    ...errorContent,
  },
  503: {
    description: "The cache's store did not answer (Redis unreachable): retry",
    ...errorContent,
  },
} as const

export const purgeCacheEntryRoute = createRoute({
  ...common,
  method: 'delete',
  path: '/admin/v1/cache/entries/{key}',
  summary: 'Remove one prompt cache entry, by the key a response gave in `x-gatehouse-cache-key`',
  request: { params: cacheEntryParamsSchema },
  responses: {
    200: { description: 'How many entries were removed (0 or 1)', ...json(cachePurgeResultSchema) },
    ...cacheErrorResponses,
  },
})

export const purgeCacheRoute = createRoute({
  ...common,
  method: 'post',
  path: '/admin/v1/cache/purge',
  summary: "Remove prompt cache entries: one key, a tenant's, a model's, or all",
  request: { body: { required: true, ...json(cachePurgeSchema) } },
  responses: {
    200: { description: 'How many entries were removed', ...json(cachePurgeResultSchema) },
    ...cacheErrorResponses,
  },
})

/** The cache's store, or the 501 that says the cache is off (no route caches, so no store was built). */
const requireCacheStore = (deps: Deps): CacheStore => {
  const store = deps.stores.cache
  if (store !== undefined) return store
  throw new GatewayError(
    'unavailable',
    'The prompt cache is off in this deployment (no route has `cache.enabled: true`): there is nothing to purge.',
    { status: 501, openaiCode: 'cache_disabled' }
  )
}

/**
 * Refuses a model no entry can be labelled with: one without a configured provider in front (`gpt-4o-mini`, an alias,
 * or a route's name, whose targets it names instead). Such a purge would remove nothing and say so, which reads like
 * success.
 */
const checkCacheModel = (model: string, config: Pick<ResolvedConfig, 'providers' | 'routes'>) => {
  const slash = model.indexOf('/')
  const provider = slash === -1 ? '' : model.slice(0, slash)
  if (provider !== '' && slash < model.length - 1 && config.providers[provider] !== undefined)
    return
  const route = config.routes[model]
  const hint =
    route === undefined
      ? `configured providers: ${Object.keys(config.providers).join(', ') || 'none'}`
      : `\`${model}\` is a route; its targets are ${route.targets.map((target) => `${target.provider}/${target.model}`).join(', ')}`
  throw invalidRequest(
    `model: entries are labelled \`provider/model\`, the target that answered (${hint}).`,
    'model'
  )
}

export const registerCacheRoutes = (app: OpenAPIHono<GatewayEnv>, deps: Deps): void => {
  const purge = async (store: CacheStore, selector: CachePurge): Promise<WireCachePurge> => {
    let deleted: number
    try {
      deleted = await store.delete(selector)
    } catch (error) {
      deps.logger.error({ err: error }, 'prompt cache: a purge failed')
      throw new GatewayError(
        'unavailable',
        "The prompt cache's store did not answer (is Redis reachable?): the purge may not be complete. Retry shortly.",
        { retryAfterMs: 1_000, cause: error }
      )
    }
    return { object: 'cache.purge', selector, deleted }
  }

  /** The body's one selector as the store takes it: a tenant's name becomes its id. */
  const selectorOf = async (body: CachePurgeBody): Promise<CachePurge> => {
    if (body.key !== undefined) return { key: body.key }
    if (body.model !== undefined) {
      checkCacheModel(body.model, deps.config)
      return { model: body.model }
    }
    if (body.tenant !== undefined) {
      const tenants = requireStore(deps.stores, 'tenants', 'Purges by tenant')
      // A tenant that does not exist is a 404, as in the tenant routes: a purge of nothing would hide the typo.
      const tenant = await requireTenant(tenants, body.tenant, { path: true, param: 'tenant' })
      return { tenant: tenant.id }
    }
    return { all: true }
  }

  app.openapi(purgeCacheEntryRoute, async (c) => {
    const store = requireCacheStore(deps)
    return c.json(await purge(store, { key: c.req.valid('param').key }), 200)
  })

  app.openapi(purgeCacheRoute, async (c) => {
    const store = requireCacheStore(deps)
    return c.json(await purge(store, await selectorOf(c.req.valid('json'))), 200)
  })
}
