/**
 * `createApp(deps)`: the one place where routes and middleware are wired. Both runtimes serve this same app.
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import type { ErrorHandler, Hono } from 'hono'
import { registerAdminRoutes } from './api/admin/register-admin-routes.ts'
import { registerAnthropicRoutes } from './api/anthropic/register-anthropic-routes.ts'
import { createDirectRoutes, type GatewayApi } from './api/direct-routes.ts'
import { registerDocs } from './api/docs/docs.route.ts'
import { registerOpenAIRoutes } from './api/openai/register-openai-routes.ts'
import { registerTenantUsage } from './api/usage/usage.route.ts'
import { validationHook } from './api/validation-hook.ts'
import { GatewayError } from './core/errors.ts'
import { createExecutor } from './core/execute.ts'
import { createPromptCache } from './core/cache/prompt-cache.ts'
import { fanOutObservers } from './core/execution-observer.ts'
import type { Deps } from './deps.ts'
import { admitRequest } from './middleware/admit-request.ts'
import type { GatewayEnv } from './middleware/gateway-env.ts'
import { onError, withErrorRateLimitHeaders } from './middleware/on-error.ts'
import { recordRefusal } from './middleware/record-refusal.ts'
import { requestContext } from './middleware/request-context.ts'

/** package.json's `version`, which the core cannot read on Workers; `test/integration/docs.test.ts` holds them equal. */
export const gatewayVersion = '0.1.0'

export const createApp = (deps: Deps): Hono<GatewayEnv> => {
  const observer = fanOutObservers(deps.observers)
  const executor = createExecutor({
    config: deps.config,
    providers: deps.providers,
    clock: deps.clock,
    logger: deps.logger,
    observer,
  })
  // Built only when some route caches: otherwise the chat handler's one check is all the cache costs.
  const promptCache =
    deps.config.cache.enabled && deps.stores.cache !== undefined
      ? createPromptCache({
          config: deps.config.cache,
          store: deps.stores.cache,
          prices: deps.config.prices,
          clock: deps.clock,
          logger: deps.logger,
          observer,
          defer: deps.defer,
          sha256Hex: deps.sha256Hex,
        })
      : null
  const api = new OpenAPIHono<GatewayEnv>({ defaultHook: validationHook })
  const serializeError = onError(deps.logger)
  const handleError: ErrorHandler<GatewayEnv> = (error, c) => {
    const response = serializeError(error, c)
    recordRefusal({ usage: deps.usage, clock: deps.clock, c, status: response.status, error })
    return withErrorRateLimitHeaders({
      c,
      response,
      store: deps.stores.admission,
      logger: deps.logger,
    })
  }
  api.onError(handleError)
  api.notFound((c) => {
    throw new GatewayError('not_found', `Unknown endpoint: ${c.req.method} ${c.req.path}`)
  })
  // Not the model routes': they are served in front of `api` (`direct-routes.ts`), which does this for them. A
  // middleware added here does not reach them either.
  api.use('*', requestContext(deps.clock))

  api.get('/healthz', (c) => c.json({ status: 'ok' }))
  api.get('/readyz', (c) => {
    const providers = deps.providers.list().map((entry) => entry.config.id)
    if (deps.isDraining()) return c.json({ status: 'draining', providers }, 503)
    if (deps.unready !== undefined) return c.json({ status: deps.unready, providers }, 503)
    if (providers.length === 0) return c.json({ status: 'no providers configured', providers }, 503)
    return c.json({ status: 'ready', providers })
  })
  registerDocs(api, deps, gatewayVersion)

  const admit = admitRequest({
    maxBodyBytes: deps.config.server.bodyLimitBytes,
    authenticator: deps.authenticator,
  })
  api.use('/v1/*', admit)
  // The model routes go to an app of their own, tried first (`direct-routes.ts`); their OpenAPI entries to `api`'s.
  const direct = createDirectRoutes({ api, clock: deps.clock, admit, onError: handleError })
  const app: GatewayApi = Object.assign(api, { directRoutes: direct.routes })
  registerOpenAIRoutes(app, deps, executor, promptCache)
  registerAnthropicRoutes(app, deps, executor, promptCache)
  registerTenantUsage(api, deps)
  registerAdminRoutes(api, deps, admit)
  return direct.app
}
