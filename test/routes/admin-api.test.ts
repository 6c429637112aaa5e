/**
 * The admin API (`/admin/v1`) through the whole app (`app.request()`), over real stores (SQLite in a temporary
 * folder) and the memory revocation feed: who may call it (master key: yes; tenant key: 403; no key: 401), what each
 * tenant and key route answers and stores, what it publishes for other instances, and that bad input is a 400 naming
 * the field with nothing written.
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { registerKeyRoutes } from '../../src/api/admin/keys.route.ts'
import { validationHook } from '../../src/api/validation-hook.ts'
import { createApp } from '../../src/app.ts'
import { createMasterKeyAuthenticator } from '../../src/middleware/master-key-authenticator.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import { masterPrincipal } from '../../src/core/principal.ts'
import type { GatewayEnv } from '../../src/middleware/gateway-env.ts'
import { onError } from '../../src/middleware/on-error.ts'
import {
  createAdminTestApp,
  masterKey,
  type AdminTestApp,
} from '../helpers/create-admin-test-app.ts'
import { createFakeAdapter, createFakeDeps } from '../helpers/fake-deps.ts'

type Json = Record<string, unknown>
type ErrorBody = {
  error: { message: string; type: string; param: string | null; code: string | null }
}
type Key = Json & { id: string; key: string; status: string; display_prefix: string }

let t: AdminTestApp

beforeEach(async () => {
  t = await createAdminTestApp()
})

afterEach(async () => {
  await t.close()
})

const createTenant = (name = 'acme', extra: Json = {}) =>
  t.ok('POST', '/admin/v1/tenants', { body: { name, ...extra }, status: 201 })

const createKey = (body: Json) => t.ok<Key>('POST', '/admin/v1/keys', { body, status: 201 })

const countRows = async (table: 'tenants' | 'api_keys' | 'api_key_secrets'): Promise<number> => {
  const row = await t.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow()
  return Number(row.count)
}

const expectError = async (
  response: Response,
  status: number,
  param: string | null,
  message?: RegExp
): Promise<ErrorBody> => {
  const body = (await response.json()) as ErrorBody
  expect({ status: response.status, param: body.error.param }).toEqual({ status, param })
  if (message) expect(body.error.message).toMatch(message)
  return body
}

describe('who may call the admin API', () => {
  it('answers 401 without a key or with a wrong one, in OpenAI error shape', async () => {
    for (const key of [null, 'gh-wrong']) {
      const response = await t.call('GET', '/admin/v1/tenants', { key })
      const body = await expectError(response, 401, null)
      expect(body.error.type).toBe('invalid_request_error')
    }
  })

  it('answers 403 to a valid tenant key, on every kind of admin route, and writes nothing', async () => {
    await createTenant()
    const { key } = await createKey({ tenant: 'acme' })
    const attempts: [string, string, Json | undefined][] = [
      ['GET', '/admin/v1/tenants', undefined],
      ['POST', '/admin/v1/tenants', { name: 'intruder' }],
      ['POST', '/admin/v1/keys', { tenant: 'acme' }],
      ['GET', '/admin/v1/keys', undefined],
      ['GET', '/admin/v1/usage', undefined],
    ]
    for (const [method, path, body] of attempts) {
      const response = await t.call(method, path, { key, body })
      const error = await expectError(response, 403, null, /master key only/)
      expect(error.error.type).toBe('permission_error')
    }
    expect(await countRows('tenants')).toBe(1)
    expect(await countRows('api_keys')).toBe(1)
  })
})

describe('without a database (Workers)', () => {
  it('answers 501 in OpenAI error shape, saying the gateway serves in master-key mode', async () => {
    const deps = {
      ...createFakeDeps({ adapters: [createFakeAdapter({ id: 'openai' })] }),
      authenticator: createMasterKeyAuthenticator(masterKey),
    }
    const app = createApp(deps)
    const headers = { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' }
    const requests: [string, string, Json | undefined][] = [
      ['POST', '/admin/v1/tenants', { name: 'acme' }],
      ['GET', '/admin/v1/tenants', undefined],
      ['GET', '/admin/v1/keys/key_1', undefined],
      ['POST', '/admin/v1/keys/key_1/revoke', undefined],
      ['GET', '/admin/v1/usage', undefined],
      ['GET', '/v1/usage', undefined],
    ]
    for (const [method, path, body] of requests) {
      const response = await app.request(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const error = (await response.json()) as ErrorBody
      expect([path, response.status]).toEqual([path, 501])
      expect(error.error.type).toBe('server_error')
      expect(error.error.message).toMatch(/need a database.*master-key mode/)
    }
  })
})

describe('tenants', () => {
  it('creates a tenant with its settings, in the wire format', async () => {
    const tenant = await createTenant('acme', {
      limits: { rpm: 60, tpm: 100_000 },
      budget: { usd: 50, period: 'month' },
      allowed_models: ['openai/*', 'anthropic/claude-*'],
      metadata: { owner: 'team-a' },
    })
    expect(tenant).toEqual({
      id: expect.stringMatching(/^ten_[0-9a-f]{32}$/),
      object: 'tenant',
      name: 'acme',
      allowed_models: ['openai/*', 'anthropic/claude-*'],
      limits: { rpm: 60, tpm: 100_000, concurrency: null },
      budget: { usd: 50, micro_usd: 50_000_000, period: 'month' },
      metadata: { owner: 'team-a' },
      disabled: false,
      disabled_at: null,
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
    })
    const stored = await t.stores.tenants.getTenantByName('acme')
    expect(stored?.budget).toEqual({ microUsd: 50_000_000, period: 'month' })
  })

  it('takes a budget in micro-USD too, and keeps a cent exact', async () => {
    const exact = await createTenant('exact', { budget: { micro_usd: 1, period: 'total' } })
    expect(exact.budget).toEqual({ usd: 0.000001, micro_usd: 1, period: 'total' })
    const cents = await createTenant('cents', { budget: { usd: 0.1, period: 'day' } })
    expect(cents.budget).toEqual({ usd: 0.1, micro_usd: 100_000, period: 'day' })
  })

  it('refuses a name taken already with a 409 naming `name`', async () => {
    await createTenant()
    await expectError(
      await t.call('POST', '/admin/v1/tenants', { body: { name: 'acme' } }),
      409,
      'name'
    )
    expect(await countRows('tenants')).toBe(1)
  })

  it('lists active tenants by name, and disabled ones when asked', async () => {
    await createTenant('zeta')
    await createTenant('acme')
    await t.ok('POST', '/admin/v1/tenants/zeta/disable')
    const active = await t.ok<{ object: string; data: Json[] }>('GET', '/admin/v1/tenants')
    expect(active.object).toBe('list')
    expect(active.data.map((tenant) => tenant.name)).toEqual(['acme'])
    const all = await t.ok<{ data: Json[] }>('GET', '/admin/v1/tenants?include_disabled=true')
    expect(all.data.map((tenant) => [tenant.name, tenant.disabled])).toEqual([
      ['acme', false],
      ['zeta', true],
    ])
  })

  it('reads a tenant by id or by name; an unknown one is a 404 naming `tenant`', async () => {
    const created = await createTenant()
    expect(await t.ok('GET', `/admin/v1/tenants/${created.id as string}`)).toEqual(created)
    expect(await t.ok('GET', '/admin/v1/tenants/acme')).toEqual(created)
    await expectError(await t.call('GET', '/admin/v1/tenants/nobody'), 404, 'tenant')
  })

  it('changes only what a patch names, and publishes the change', async () => {
    const created = await createTenant('acme', {
      limits: { rpm: 60, tpm: 1000 },
      budget: { usd: 5, period: 'day' },
      metadata: { owner: 'a' },
    })
    await t.deps.clock.advance(1000)
    const patched = await t.ok('PATCH', '/admin/v1/tenants/acme', {
      body: { name: 'acme-corp', limits: { rpm: null, concurrency: 4 }, budget: null },
    })
    expect(patched).toMatchObject({
      id: created.id,
      name: 'acme-corp',
      limits: { rpm: null, tpm: 1000, concurrency: 4 },
      budget: null,
      metadata: { owner: 'a' },
      updated_at: '2026-01-01T00:00:01.000Z',
    })
    expect(t.published).toEqual([{ kind: 'tenant', id: created.id }])
    await expectError(
      await t.call('PATCH', '/admin/v1/tenants/nobody', { body: { limits: { rpm: 1 } } }),
      404,
      'tenant'
    )
  })

  it('disables and enables a tenant: its keys stop and start working, and each change is published', async () => {
    const tenant = await createTenant()
    const created = await createKey({ tenant: 'acme' })
    const { key } = created
    expect((await t.call('GET', '/v1/usage', { key })).status).toBe(200)

    const disabled = await t.ok('POST', '/admin/v1/tenants/acme/disable')
    expect(disabled).toMatchObject({ disabled: true, disabled_at: '2026-01-01T00:00:00.000Z' })
    expect((await t.call('GET', '/v1/usage', { key })).status).toBe(401)
    // Its keys say why they no longer work, in the list and alone; a revoked one still reads revoked.
    const [listed] = (await t.ok<{ data: Key[] }>('GET', '/admin/v1/keys?tenant=acme')).data
    expect(listed).toMatchObject({ id: created.id, status: 'tenant_disabled' })
    expect(await t.ok('GET', `/admin/v1/keys/${created.id}`)).toMatchObject({
      status: 'tenant_disabled',
    })
    const everyTenant = await t.ok<{ data: Key[] }>('GET', '/admin/v1/keys')
    expect(everyTenant.data.find((entry) => entry.id === created.id)?.status).toBe(
      'tenant_disabled'
    )
    await expectError(
      await t.call('POST', '/admin/v1/keys', { body: { tenant: 'acme' } }),
      400,
      'tenant',
      /disabled/
    )

    const enabled = await t.ok('POST', `/admin/v1/tenants/${tenant.id as string}/enable`)
    expect(enabled).toMatchObject({ disabled: false, disabled_at: null })
    expect((await t.call('GET', '/v1/usage', { key })).status).toBe(200)
    expect(await t.ok('GET', `/admin/v1/keys/${created.id}`)).toMatchObject({ status: 'active' })
    expect(t.published).toEqual([
      { kind: 'tenant', id: tenant.id },
      { kind: 'tenant', id: tenant.id },
    ])
    await expectError(await t.call('POST', '/admin/v1/tenants/nobody/disable'), 404, 'tenant')
  })
})

describe('keys', () => {
  beforeEach(async () => {
    await createTenant()
  })

  it('answers a new key once, and stores only its hash and display prefix', async () => {
    const response = await t.call('POST', '/admin/v1/keys', {
      body: {
        tenant: 'acme',
        name: 'ci',
        limits: { rpm: 60, tpm: 100_000 },
        budget: { usd: 50, period: 'month' },
        allowed_models: ['openai/*'],
        expires_at: '2026-01-31T00:00:00Z',
        metadata: { pipeline: 'deploy' },
      },
    })
    expect(response.status).toBe(201)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const created = (await response.json()) as Key
    expect(created).toMatchObject({
      object: 'api_key',
      name: 'ci',
      status: 'active',
      limits: { rpm: 60, tpm: 100_000, concurrency: null },
      budget: { usd: 50, micro_usd: 50_000_000, period: 'month' },
      allowed_models: ['openai/*'],
      expires_at: '2026-01-31T00:00:00.000Z',
      revoked_at: null,
      metadata: { pipeline: 'deploy' },
    })
    expect(created.key).toMatch(/^gh-[0-9A-Za-z]{43}$/)
    expect(created.display_prefix).toBe(created.key.slice(0, 9))

    const secrets = await t.database.db.selectFrom('api_key_secrets').selectAll().execute()
    expect(secrets.map((secret) => secret.hash)).toEqual([await hashApiKey(created.key)])
    // The key itself is nowhere in the database.
    for (const table of ['tenants', 'api_keys', 'api_key_secrets'] as const) {
      const rows = await t.database.db.selectFrom(table).selectAll().execute()
      expect(JSON.stringify(rows)).not.toContain(created.key)
    }
    const read = await t.ok<Key>('GET', `/admin/v1/keys/${created.id}`)
    expect(read).not.toHaveProperty('key')
    const { key: _shownOnce, ...rest } = created
    expect(read).toEqual(rest)
  })

  it('names a key after its display prefix when no name is given, and takes the tenant by id', async () => {
    const tenant = await t.ok('GET', '/admin/v1/tenants/acme')
    const created = await createKey({ tenant: tenant.id })
    expect(created.name).toBe(created.display_prefix)
    expect(created.tenant_id).toBe(tenant.id)
  })

  it("lists a tenant's keys or everyone's, oldest first, revoked ones when asked", async () => {
    await createTenant('beta')
    const first = await createKey({ tenant: 'acme', name: 'one' })
    await t.deps.clock.advance(1)
    const second = await createKey({ tenant: 'acme', name: 'two' })
    const other = await createKey({ tenant: 'beta', name: 'other' })
    await t.ok('POST', `/admin/v1/keys/${first.id}/revoke`)

    const names = async (query: string) =>
      (await t.ok<{ data: Key[] }>('GET', `/admin/v1/keys${query}`)).data.map((key) => key.name)
    expect(await names('?tenant=acme')).toEqual(['two'])
    expect(await names('?tenant=acme&include_revoked=true')).toEqual(['one', 'two'])
    expect(await names('?include_revoked=true')).toEqual(['one', 'two', 'other'])
    expect(await names('')).toEqual(['two', 'other'])
    const listed = await t.ok<{ object: string; data: Key[] }>('GET', '/admin/v1/keys?tenant=beta')
    expect(listed.object).toBe('list')
    expect(listed.data[0]).not.toHaveProperty('key')
    expect(listed.data[0].id).toBe(other.id)
    expect(second.id).not.toBe(first.id)
    await expectError(await t.call('GET', '/admin/v1/keys?tenant=nobody'), 400, 'tenant')
  })

  it('changes only what a patch names, and publishes the change', async () => {
    const created = await createKey({ tenant: 'acme', name: 'ci', limits: { rpm: 60, tpm: 10 } })
    const patched = await t.ok<Key>('PATCH', `/admin/v1/keys/${created.id}`, {
      body: {
        limits: { tpm: null },
        expires_at: '2027-01-01T00:00:00+01:00',
        allowed_models: null,
      },
    })
    expect(patched).toMatchObject({
      name: 'ci',
      limits: { rpm: 60, tpm: null, concurrency: null },
      expires_at: '2026-12-31T23:00:00.000Z',
      allowed_models: null,
    })
    const cleared = await t.ok<Key>('PATCH', `/admin/v1/keys/${created.id}`, {
      body: { expires_at: null },
    })
    expect(cleared.expires_at).toBeNull()
    expect(t.published).toEqual([
      { kind: 'key', id: created.id },
      { kind: 'key', id: created.id },
    ])
    await expectError(
      await t.call('PATCH', '/admin/v1/keys/key_nope', { body: { name: 'x' } }),
      404,
      'id'
    )
  })

  it('revokes a key: refused from then on, published, and a second revoke changes nothing', async () => {
    const created = await createKey({ tenant: 'acme' })
    const revoked = await t.ok<Key>('POST', `/admin/v1/keys/${created.id}/revoke`)
    expect(revoked).toMatchObject({ status: 'revoked', revoked_at: '2026-01-01T00:00:00.000Z' })
    expect((await t.call('GET', '/v1/usage', { key: created.key })).status).toBe(401)
    await t.deps.clock.advance(5000)
    const again = await t.ok<Key>('POST', `/admin/v1/keys/${created.id}/revoke`)
    expect(again.revoked_at).toBe('2026-01-01T00:00:00.000Z')
    expect(t.published).toEqual([
      { kind: 'key', id: created.id },
      { kind: 'key', id: created.id },
    ])
    await expectError(await t.call('POST', '/admin/v1/keys/key_nope/revoke'), 404, 'id')
    // A revoked key cannot be rotated back to life.
    await expectError(await t.call('POST', `/admin/v1/keys/${created.id}/rotate`), 400, 'id')
  })

  it('rotates a key: a new secret answered once, the old one valid for the grace period', async () => {
    const created = await createKey({ tenant: 'acme', limits: { rpm: 5 } })
    const response = await t.call('POST', `/admin/v1/keys/${created.id}/rotate`, {
      body: { grace_period_seconds: 3600 },
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const rotated = (await response.json()) as Key & { previous_secrets_valid_until: string }
    expect(rotated).toMatchObject({
      id: created.id,
      limits: { rpm: 5, tpm: null, concurrency: null },
      previous_secrets_valid_until: '2026-01-01T01:00:00.000Z',
    })
    expect(rotated.key).not.toBe(created.key)
    expect(rotated.display_prefix).toBe(rotated.key.slice(0, 9))
    expect(t.published).toEqual([{ kind: 'key', id: created.id }])

    expect((await t.call('GET', '/v1/usage', { key: created.key })).status).toBe(200)
    expect((await t.call('GET', '/v1/usage', { key: rotated.key })).status).toBe(200)
    await t.deps.clock.advance(3_600_000)
    expect((await t.call('GET', '/v1/usage', { key: created.key })).status).toBe(401)
    expect((await t.call('GET', '/v1/usage', { key: rotated.key })).status).toBe(200)
  })

  it('rotates with a day of grace by default, or none at all with 0', async () => {
    const created = await createKey({ tenant: 'acme' })
    const rotated = await t.ok<Key & { previous_secrets_valid_until: string }>(
      'POST',
      `/admin/v1/keys/${created.id}/rotate`
    )
    expect(rotated.previous_secrets_valid_until).toBe('2026-01-02T00:00:00.000Z')
    const again = await t.ok<Key>('POST', `/admin/v1/keys/${created.id}/rotate`, {
      body: { grace_period_seconds: 0 },
    })
    expect((await t.call('GET', '/v1/usage', { key: created.key })).status).toBe(401)
    expect((await t.call('GET', '/v1/usage', { key: rotated.key })).status).toBe(401)
    expect((await t.call('GET', '/v1/usage', { key: again.key })).status).toBe(200)
    await expectError(await t.call('POST', '/admin/v1/keys/key_nope/rotate'), 404, 'id')
  })

  it('refuses to rotate an expired key, whose new secret would be refused on arrival', async () => {
    const created = await createKey({ tenant: 'acme', expires_at: '2026-01-01T00:01:00Z' })
    await t.deps.clock.advance(60_000)
    await expectError(
      await t.call('POST', `/admin/v1/keys/${created.id}/rotate`, { body: {} }),
      400,
      'id',
      /expired at 2026-01-01T00:01:00.000Z.*expires_at/
    )
    expect(await countRows('api_key_secrets')).toBe(1)
    expect(t.published).toEqual([])
    // Given a new expiry first, it rotates, and the new secret works.
    await t.ok('PATCH', `/admin/v1/keys/${created.id}`, { body: { expires_at: null } })
    const rotated = await t.ok<Key>('POST', `/admin/v1/keys/${created.id}/rotate`)
    expect((await t.call('GET', '/v1/usage', { key: rotated.key })).status).toBe(200)
  })

  it('reports an expired key as expired, and the key stops working', async () => {
    const created = await createKey({ tenant: 'acme', expires_at: '2026-01-01T00:01:00Z' })
    expect((await t.call('GET', '/v1/usage', { key: created.key })).status).toBe(200)
    await t.deps.clock.advance(60_000)
    expect((await t.ok<Key>('GET', `/admin/v1/keys/${created.id}`)).status).toBe('expired')
    expect((await t.call('GET', '/v1/usage', { key: created.key })).status).toBe(401)
    await expectError(await t.call('GET', '/admin/v1/keys/key_nope'), 404, 'id')
  })
})

describe('bad input: a 400 naming the field, and nothing written', () => {
  type Case = [name: string, body: unknown, param: string | null, message?: RegExp]

  const tenantCases: Case[] = [
    ['a name missing', {}, 'name'],
    ['a name with spaces', { name: 'acme corp' }, 'name', /letters, digits/],
    ['a name shaped like an id', { name: 'ten_0123456789abcdef0123456789abcdef' }, 'name'],
    ['a negative limit', { name: 'a', limits: { rpm: -1 } }, 'limits.rpm', /limits\.rpm/],
    ['a limit of zero', { name: 'a', limits: { concurrency: 0 } }, 'limits.concurrency'],
    ['a fractional limit', { name: 'a', limits: { tpm: 1.5 } }, 'limits.tpm'],
    ['a misspelt limit', { name: 'a', limits: { rmp: 5 } }, 'limits.rmp', /rmp/],
    ['a misspelt field', { name: 'a', budgett: null }, 'budgett', /budgett/],
    ['a budget of "ten"', { name: 'a', budget: { usd: 'ten', period: 'month' } }, 'budget.usd'],
    ['a negative budget', { name: 'a', budget: { usd: -1, period: 'month' } }, 'budget.usd'],
    [
      'a budget below a micro-USD',
      { name: 'a', budget: { usd: 0.0000001, period: 'day' } },
      'budget.usd',
      /6 decimals/,
    ],
    [
      'a budget without amount',
      { name: 'a', budget: { period: 'day' } },
      'budget.usd',
      /exactly one/,
    ],
    [
      'a budget in both units',
      { name: 'a', budget: { usd: 1, micro_usd: 1, period: 'day' } },
      'budget.usd',
    ],
    [
      'a budget period of a year',
      { name: 'a', budget: { usd: 1, period: 'year' } },
      'budget.period',
    ],
    [
      'a regular expression as model pattern',
      { name: 'a', allowed_models: ['openai/(gpt|o1).*'] },
      'allowed_models.0',
    ],
    [
      'a model pattern with a space',
      { name: 'a', allowed_models: ['openai/*', 'gpt 4'] },
      'allowed_models.1',
    ],
    ['an empty model segment', { name: 'a', allowed_models: ['openai/'] }, 'allowed_models.0'],
    ['an empty model list', { name: 'a', allowed_models: [] }, 'allowed_models', /null/],
    [
      'a pattern for a provider not configured',
      { name: 'a', allowed_models: ['openai/*', 'opnai/*'] },
      'allowed_models.1',
      /no provider `opnai` \(configured: openai, anthropic\)/,
    ],
    [
      'metadata that is not a string',
      { name: 'a', metadata: { cost_centre: 42 } },
      'metadata.cost_centre',
    ],
  ]

  it.each(tenantCases)('tenant: %s', async (_name, body, param, message) => {
    await expectError(await t.call('POST', '/admin/v1/tenants', { body }), 400, param, message)
    expect(await countRows('tenants')).toBe(0)
  })

  it('a pattern naming a route or any provider is accepted', async () => {
    const tenant = await createTenant('a', { allowed_models: ['team/*', '*/gpt-4o', 'gpt-4o*'] })
    expect(tenant.allowed_models).toEqual(['team/*', '*/gpt-4o', 'gpt-4o*'])
  })

  it('malformed JSON, and a body that is not JSON', async () => {
    await expectError(
      await t.call('POST', '/admin/v1/tenants', { rawBody: '{"name": "acme"' }),
      400,
      null,
      /JSON/
    )
    const response = await createApp(t.deps).request('/admin/v1/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'text/plain' },
      body: 'name=acme',
    })
    expect(response.status).toBe(415)
    expect(await countRows('tenants')).toBe(0)
  })

  const keyCases: Case[] = [
    ['an unknown tenant', { tenant: 'nobody' }, 'tenant', /No tenant/],
    ['no tenant', {}, 'tenant'],
    [
      'an expiry in the past',
      { tenant: 'acme', expires_at: '2025-12-31T23:59:59Z' },
      'expires_at',
      /in the past/,
    ],
    [
      'an expiry of now',
      { tenant: 'acme', expires_at: '2026-01-01T00:00:00Z' },
      'expires_at',
      /in the past/,
    ],
    ['an expiry that is no time', { tenant: 'acme', expires_at: 'next week' }, 'expires_at'],
    [
      'an expiry without its zone',
      { tenant: 'acme', expires_at: '2026-06-01T00:00:00' },
      'expires_at',
    ],
    ['a blank name', { tenant: 'acme', name: '   ' }, 'name'],
    ['a name with a NUL character', { tenant: 'acme', name: 'ci\u0000' }, 'name', /NUL/],
    [
      'metadata with half a surrogate pair',
      { tenant: 'acme', metadata: { owner: 'team-\ud83d' } },
      'metadata.owner',
      /surrogate/,
    ],
    ['a negative limit', { tenant: 'acme', limits: { tpm: -5 } }, 'limits.tpm'],
    [
      'a budget of "ten"',
      { tenant: 'acme', budget: { usd: 'ten', period: 'month' } },
      'budget.usd',
    ],
    [
      'a model pattern that is no pattern',
      { tenant: 'acme', allowed_models: ['^gpt-4$'] },
      'allowed_models.0',
    ],
    ['a key chosen by the caller', { tenant: 'acme', key: 'gh-mine' }, 'key', /key/],
  ]

  it.each(keyCases)('key: %s', async (_name, body, param, message) => {
    await createTenant()
    await expectError(await t.call('POST', '/admin/v1/keys', { body }), 400, param, message)
    expect(await countRows('api_keys')).toBe(0)
    expect(await countRows('api_key_secrets')).toBe(0)
  })

  it('key changes and rotations: an expiry in the past, a negative grace, an unknown field', async () => {
    await createTenant()
    const created = await createKey({ tenant: 'acme', name: 'ci' })
    const path = `/admin/v1/keys/${created.id}`
    await expectError(
      await t.call('PATCH', path, { body: { expires_at: '2020-01-01T00:00:00Z' } }),
      400,
      'expires_at'
    )
    await expectError(
      await t.call('PATCH', path, { body: { tenant: 'other' } }),
      400,
      'tenant',
      /Unrecognized key/
    )
    await expectError(
      await t.call('POST', `${path}/rotate`, { body: { grace_period_seconds: -1 } }),
      400,
      'grace_period_seconds'
    )
    await expectError(
      await t.call('POST', `${path}/rotate`, { body: { grace_period_seconds: '1d' } }),
      400,
      'grace_period_seconds'
    )
    expect(await t.ok('GET', path)).toMatchObject({
      name: 'ci',
      expires_at: null,
      display_prefix: created.display_prefix,
    })
    expect(await countRows('api_key_secrets')).toBe(1)
    expect(t.published).toEqual([])
  })

  it('a create that fails inside its transaction answers 409 and leaves nothing behind', async () => {
    await createTenant()
    // A generator that repeats itself: the second key's row is written, then its secret collides, and the whole
    // transaction must roll back.
    const fixed = { key: `gh-${'A'.repeat(43)}`, displayPrefix: 'gh-AAAAAA' }
    const app = new OpenAPIHono<GatewayEnv>({ defaultHook: validationHook })
    app.onError(onError(t.deps.logger))
    app.use('*', async (c, next) => {
      c.set('principal', masterPrincipal)
      await next()
    })
    registerKeyRoutes(app, t.deps, { generateKey: () => fixed })
    const post = (name: string) =>
      app.request('/admin/v1/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: 'acme', name }),
      })
    expect((await post('first')).status).toBe(201)
    await expectError(await post('second'), 409, 'hash')
    const keys = await t.database.db.selectFrom('api_keys').select('name').execute()
    expect(keys).toEqual([{ name: 'first' }])
    expect(await countRows('api_key_secrets')).toBe(1)
  })
})

describe('/openapi.json', () => {
  it('documents every admin route and GET /v1/usage', async () => {
    const document = (await (await t.call('GET', '/openapi.json', { key: null })).json()) as {
      paths: Record<string, Record<string, { tags?: string[]; requestBody?: unknown }>>
      components: { schemas: Record<string, unknown> }
    }
    const expected: [string, string][] = [
      ['/admin/v1/tenants', 'post'],
      ['/admin/v1/tenants', 'get'],
      ['/admin/v1/tenants/{tenant}', 'get'],
      ['/admin/v1/tenants/{tenant}', 'patch'],
      ['/admin/v1/tenants/{tenant}/disable', 'post'],
      ['/admin/v1/tenants/{tenant}/enable', 'post'],
      ['/admin/v1/keys', 'post'],
      ['/admin/v1/keys', 'get'],
      ['/admin/v1/keys/{id}', 'get'],
      ['/admin/v1/keys/{id}', 'patch'],
      ['/admin/v1/keys/{id}/revoke', 'post'],
      ['/admin/v1/keys/{id}/rotate', 'post'],
      ['/admin/v1/usage', 'get'],
      ['/v1/usage', 'get'],
    ]
    for (const [path, method] of expected)
      expect(document.paths[path]?.[method], `${method} ${path}`).toBeDefined()
    expect(document.paths['/admin/v1/keys'].post.requestBody).toBeDefined()
    for (const schema of [
      'Tenant',
      'ApiKey',
      'CreatedApiKey',
      'CreateKeyRequest',
      'UsageRow',
      'LimitsInput',
    ])
      expect(document.components.schemas, schema).toHaveProperty(schema)
  })
})
