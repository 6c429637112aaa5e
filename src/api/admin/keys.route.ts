/**
 * API keys: `POST /admin/v1/keys`, `GET /admin/v1/keys`, `GET|PATCH /admin/v1/keys/{id}`,
 * `POST /admin/v1/keys/{id}/revoke|rotate`. A key is answered once, when it is made (creation, rotation); the store
 * keeps only its SHA-256 and display prefix. Every change is published on the revocation feed, so every gateway
 * process drops what it cached about the key.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { GatewayError, invalidRequest } from '../../core/errors.ts'
import { generateApiKey, type GeneratedApiKey } from '../../core/generate-api-key.ts'
import { hashApiKey } from '../../core/hash-api-key.ts'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import type { ApiKeyRecord, TenantStore } from '../../stores/tenant-store.ts'
import { adminErrorResponses, conflictResponse } from './admin-error-responses.ts'
import {
  createdKeySchema,
  createKeySchema,
  defaultGracePeriodSeconds,
  keyListSchema,
  keySchema,
  rotatedKeySchema,
  rotateKeySchema,
  updateKeySchema,
} from './admin-schemas.ts'
import { fromWireAccess, isoTime, toWireKey } from './admin-wire.ts'
import { checkModelPatterns } from './check-model-patterns.ts'
import { requireTenant } from './find-tenant.ts'
import { requireStore } from './require-store.ts'

const common = { tags: ['Admin'], security: [{ bearerAuth: [] }] }
const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })
const keyParams = z.object({
  id: z.string().min(1).openapi({ description: 'The key id (`key_…`)' }),
})
/** A response carrying a secret must not be kept by a proxy or a browser. */
const secretHeaders = { 'cache-control': 'no-store' }

export const createKeyRoute = createRoute({
  ...common,
  method: 'post',
  path: '/admin/v1/keys',
  summary: 'Create an API key for a tenant; the key is in this answer only',
  request: { body: { required: true, ...json(createKeySchema) } },
  responses: {
    201: { description: 'The key, with the key itself (`key`)', ...json(createdKeySchema) },
    ...adminErrorResponses,
  },
})

export const listKeysRoute = createRoute({
  ...common,
  method: 'get',
  path: '/admin/v1/keys',
  summary: "List keys (a tenant's, or every tenant's by tenant name), oldest first",
  request: {
    query: z.object({
      tenant: z.string().min(1).optional().openapi({ description: 'Tenant id or name' }),
      include_revoked: z.enum(['true', 'false']).optional().openapi({
        description: '`true`: revoked keys too',
      }),
    }),
  },
  responses: { 200: { description: 'The keys', ...json(keyListSchema) }, ...adminErrorResponses },
})

export const getKeyRoute = createRoute({
  ...common,
  method: 'get',
  path: '/admin/v1/keys/{id}',
  summary: 'Read a key (never the key itself)',
  request: { params: keyParams },
  responses: { 200: { description: 'The key', ...json(keySchema) }, ...adminErrorResponses },
})

export const updateKeyRoute = createRoute({
  ...common,
  method: 'patch',
  path: '/admin/v1/keys/{id}',
  summary: 'Change a key: only the fields sent change, and only the limits named',
  request: { params: keyParams, body: { required: true, ...json(updateKeySchema) } },
  responses: { 200: { description: 'The key', ...json(keySchema) }, ...adminErrorResponses },
})

export const revokeKeyRoute = createRoute({
  ...common,
  method: 'post',
  path: '/admin/v1/keys/{id}/revoke',
  summary:
    'Revoke a key: refused by every instance within a second; revoking again changes nothing',
  request: { params: keyParams },
  responses: { 200: { description: 'The key', ...json(keySchema) }, ...adminErrorResponses },
})

export const rotateKeyRoute = createRoute({
  ...common,
  method: 'post',
  path: '/admin/v1/keys/{id}/rotate',
  summary:
    'Give a key a new secret (same id, limits, budget and usage); the old one works for a grace period',
  request: { params: keyParams, body: { required: false, ...json(rotateKeySchema) } },
  responses: {
    200: { description: 'The key, with its new secret (`key`)', ...json(rotatedKeySchema) },
    409: conflictResponse,
    ...adminErrorResponses,
  },
})

/** An expiry as epoch ms; one at or before `now` is refused: a key that expires on creation is a mistake. */
const readExpiry = (value: string | null | undefined, now: number): number | null | undefined => {
  if (value === undefined || value === null) return value
  const expiresAt = Date.parse(value)
  if (expiresAt <= now)
    throw invalidRequest(
      `expires_at: ${value} is in the past (now is ${isoTime(now)}).`,
      'expires_at'
    )
  return expiresAt
}

const keyNotFound = (id: string): GatewayError =>
  new GatewayError('not_found', `No key has the id ${JSON.stringify(id)}.`, { param: 'id' })

export type KeyRouteOptions = {
  /** Makes each new key (tests pass one that repeats, to reach the store's conflict path). */
  generateKey?: () => GeneratedApiKey
}

export const registerKeyRoutes = (
  app: OpenAPIHono<GatewayEnv>,
  deps: Deps,
  options: KeyRouteOptions = {}
): void => {
  const generateKey = options.generateKey ?? generateApiKey
  const tenants = (): TenantStore => requireStore(deps.stores, 'tenants', 'Tenants and keys')
  /** A key as the API shows it, its status read with its tenant's (`toWireKey`). */
  const wireKey = async (key: ApiKeyRecord, now: number) => {
    const tenant = await tenants().getTenant(key.tenantId)
    return toWireKey(key, now, tenant !== null && tenant.disabledAt !== null)
  }
  const published = async (key: ApiKeyRecord | null, id: string): Promise<ApiKeyRecord> => {
    if (key === null) throw keyNotFound(id)
    await deps.stores.revocations?.publish({ kind: 'key', id: key.id })
    return key
  }

  app.openapi(createKeyRoute, async (c) => {
    const store = tenants()
    const body = c.req.valid('json')
    const now = deps.clock.now()
    const expiresAt = readExpiry(body.expires_at, now)
    checkModelPatterns(body.allowed_models, deps.config, 'allowed_models')
    const tenant = await requireTenant(store, body.tenant, { path: false, param: 'tenant' })
    if (tenant.disabledAt !== null)
      throw invalidRequest(
        `The tenant ${tenant.name} is disabled: enable it before giving it keys.`,
        'tenant'
      )
    const { key, displayPrefix } = generateKey()
    const record = await store.createKey({
      tenantId: tenant.id,
      name: body.name ?? displayPrefix,
      hash: await hashApiKey(key),
      displayPrefix,
      expiresAt: expiresAt ?? null,
      ...fromWireAccess(body),
    })
    return c.json({ ...toWireKey(record, now, false), key }, 201, secretHeaders)
  })

  app.openapi(listKeysRoute, async (c) => {
    const store = tenants()
    const query = c.req.valid('query')
    const includeRevoked = query.include_revoked === 'true'
    // Every tenant's keys in one read, not one per tenant; the tenants, for their keys' status.
    const owner =
      query.tenant === undefined
        ? null
        : await requireTenant(store, query.tenant, { path: false, param: 'tenant' })
    const [owners, keys] = await Promise.all([
      owner === null ? store.listTenants({ includeDisabled: true }) : [owner],
      store.listKeys(owner?.id ?? null, { includeRevoked }),
    ])
    const now = deps.clock.now()
    const disabled = new Set(
      owners.filter((tenant) => tenant.disabledAt !== null).map((tenant) => tenant.id)
    )
    // Grouped by tenant in the tenants' order (by name), each tenant's oldest first: a stable sort of the read.
    const rank = new Map(owners.map((tenant, index) => [tenant.id, index]))
    const ordered = keys
      .filter((key) => rank.has(key.tenantId))
      .sort((a, b) => (rank.get(a.tenantId) ?? 0) - (rank.get(b.tenantId) ?? 0))
    return c.json(
      {
        object: 'list' as const,
        data: ordered.map((key) => toWireKey(key, now, disabled.has(key.tenantId))),
      },
      200
    )
  })

  app.openapi(getKeyRoute, async (c) => {
    const { id } = c.req.valid('param')
    const key = await tenants().getKey(id)
    if (key === null) throw keyNotFound(id)
    return c.json(await wireKey(key, deps.clock.now()), 200)
  })

  app.openapi(updateKeyRoute, async (c) => {
    const store = tenants()
    const { id } = c.req.valid('param')
    const body = c.req.valid('json')
    const now = deps.clock.now()
    const expiresAt = readExpiry(body.expires_at, now)
    checkModelPatterns(body.allowed_models, deps.config, 'allowed_models')
    const patch = {
      ...fromWireAccess(body),
      ...(body.name === undefined ? {} : { name: body.name }),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    }
    const key = await published(await store.updateKey(id, patch), id)
    return c.json(await wireKey(key, now), 200)
  })

  app.openapi(revokeKeyRoute, async (c) => {
    const { id } = c.req.valid('param')
    const key = await published(await tenants().revokeKey(id), id)
    return c.json(await wireKey(key, deps.clock.now()), 200)
  })

  app.openapi(rotateKeyRoute, async (c) => {
    const store = tenants()
    const { id } = c.req.valid('param')
    const grace = c.req.valid('json').grace_period_seconds ?? defaultGracePeriodSeconds
    const now = deps.clock.now()
    const graceUntil = now + grace * 1000
    const { key, displayPrefix } = generateKey()
    const record = await published(
      await store.rotateKey(id, { hash: await hashApiKey(key), displayPrefix, graceUntil }),
      id
    )
    return c.json(
      {
        ...(await wireKey(record, now)),
        key,
        previous_secrets_valid_until: isoTime(graceUntil),
      },
      200,
      secretHeaders
    )
  })
}
