/**
 * Tenants: `POST /admin/v1/tenants`, `GET /admin/v1/tenants`, `GET|PATCH /admin/v1/tenants/{tenant}`,
 * `POST /admin/v1/tenants/{tenant}/disable|enable`. `{tenant}` is an id or a name. Every change is published on the
 * revocation feed, so every gateway process drops what it cached about the tenant's keys.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import type { TenantRecord, TenantStore } from '../../stores/tenant-store.ts'
import { adminErrorResponses, conflictResponse } from './admin-error-responses.ts'
import {
  createTenantSchema,
  tenantListSchema,
  tenantSchema,
  updateTenantSchema,
} from './admin-schemas.ts'
import { fromWireAccess, toWireTenant } from './admin-wire.ts'
import { checkModelPatterns } from './check-model-patterns.ts'
import { requireTenant } from './find-tenant.ts'
import { requireStore } from './require-store.ts'

const common = { tags: ['Admin'], security: [{ bearerAuth: [] }] }
const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })
const tenantParams = z.object({
  tenant: z.string().min(1).openapi({ description: 'Tenant id or name', example: 'acme' }),
})

export const createTenantRoute = createRoute({
  ...common,
  method: 'post',
  path: '/admin/v1/tenants',
  summary: 'Create a tenant',
  request: { body: { required: true, ...json(createTenantSchema) } },
  responses: {
    201: { description: 'The tenant', ...json(tenantSchema) },
    409: conflictResponse,
    ...adminErrorResponses,
  },
})

export const listTenantsRoute = createRoute({
  ...common,
  method: 'get',
  path: '/admin/v1/tenants',
  summary: 'List tenants, by name',
  request: {
    query: z.object({
      include_disabled: z.enum(['true', 'false']).optional().openapi({
        description: '`true`: disabled tenants too',
      }),
    }),
  },
  responses: {
    200: { description: 'The tenants', ...json(tenantListSchema) },
    ...adminErrorResponses,
  },
})

export const getTenantRoute = createRoute({
  ...common,
  method: 'get',
  path: '/admin/v1/tenants/{tenant}',
  summary: 'Read a tenant',
  request: { params: tenantParams },
  responses: { 200: { description: 'The tenant', ...json(tenantSchema) }, ...adminErrorResponses },
})

export const updateTenantRoute = createRoute({
  ...common,
  method: 'patch',
  path: '/admin/v1/tenants/{tenant}',
  summary: 'Change a tenant: only the fields sent change, and only the limits named',
  request: { params: tenantParams, body: { required: true, ...json(updateTenantSchema) } },
  responses: {
    200: { description: 'The tenant', ...json(tenantSchema) },
    409: conflictResponse,
    ...adminErrorResponses,
  },
})

const stateRoute = (action: 'disable' | 'enable') =>
  createRoute({
    ...common,
    method: 'post',
    path: `/admin/v1/tenants/{tenant}/${action}`,
    summary:
      action === 'disable'
        ? 'Disable a tenant: every one of its keys is refused, on every instance, within a second'
        : 'Enable a disabled tenant again',
    request: { params: tenantParams },
    responses: {
      200: { description: 'The tenant', ...json(tenantSchema) },
      ...adminErrorResponses,
    },
  })

export const disableTenantRoute = stateRoute('disable')
export const enableTenantRoute = stateRoute('enable')

export const registerTenantRoutes = (app: OpenAPIHono<GatewayEnv>, deps: Deps): void => {
  const tenants = (): TenantStore => requireStore(deps.stores, 'tenants', 'Tenants')
  const published = async (tenant: TenantRecord): Promise<TenantRecord> => {
    await deps.stores.revocations?.publish({ kind: 'tenant', id: tenant.id })
    return tenant
  }

  app.openapi(createTenantRoute, async (c) => {
    const store = tenants()
    const body = c.req.valid('json')
    checkModelPatterns(body.allowed_models, deps.config, 'allowed_models')
    const tenant = await store.createTenant({ name: body.name, ...fromWireAccess(body) })
    return c.json(toWireTenant(tenant), 201)
  })

  app.openapi(listTenantsRoute, async (c) => {
    const store = tenants()
    const list = await store.listTenants({
      includeDisabled: c.req.valid('query').include_disabled === 'true',
    })
    return c.json({ object: 'list' as const, data: list.map(toWireTenant) }, 200)
  })

  app.openapi(getTenantRoute, async (c) => {
    const store = tenants()
    const tenant = await requireTenant(store, c.req.valid('param').tenant, {
      path: true,
      param: 'tenant',
    })
    return c.json(toWireTenant(tenant), 200)
  })

  app.openapi(updateTenantRoute, async (c) => {
    const store = tenants()
    const body = c.req.valid('json')
    checkModelPatterns(body.allowed_models, deps.config, 'allowed_models')
    const found = await requireTenant(store, c.req.valid('param').tenant, {
      path: true,
      param: 'tenant',
    })
    const patch = {
      ...fromWireAccess(body),
      ...(body.name === undefined ? {} : { name: body.name }),
    }
    const updated = await store.updateTenant(found.id, patch)
    // Tenants are never deleted, so the one just found is still there.
    return c.json(toWireTenant(await published(updated ?? found)), 200)
  })

  for (const [route, disabled] of [
    [disableTenantRoute, true],
    [enableTenantRoute, false],
  ] as const) {
    app.openapi(route, async (c) => {
      const store = tenants()
      const found = await requireTenant(store, c.req.valid('param').tenant, {
        path: true,
        param: 'tenant',
      })
      const changed = disabled
        ? await store.disableTenant(found.id)
        : await store.enableTenant(found.id)
      return c.json(toWireTenant(await published(changed ?? found)), 200)
    })
  }
}
