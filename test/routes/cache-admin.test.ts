/**
 * Prompt cache purges (`DELETE /admin/v1/cache/entries/{key}`, `POST /admin/v1/cache/purge`) through the whole app
 * (`app.request()`), over the memory cache store, real tenant stores and fake providers that answer: entries are made
 * by real requests, and a purge is proven by the next identical request missing while the others still hit. Who may
 * purge (the master key only), what a bad body is (a 400 naming the field), and the answers when the cache is off
 * (501) or its store cannot purge (503).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { createMasterKeyAuthenticator } from '../../src/middleware/master-key-authenticator.ts'
import type { CacheStore } from '../../src/stores/cache-store.ts'
import { createMemoryCacheStore } from '../../src/stores/memory/memory-cache-store.ts'
import {
  createAdminTestApp,
  masterKey,
  type AdminTestApp,
} from '../helpers/create-admin-test-app.ts'
import { chatResult, createFakeAdapter, createFakeDeps } from '../helpers/fake-deps.ts'

type Json = Record<string, unknown>
type ErrorBody = {
  error: { message: string; type: string; param: string | null; code: string | null }
}

let t: AdminTestApp
let cache: CacheStore

const adapters = () => [
  createFakeAdapter({
    id: 'openai',
    chat: async (request) => chatResult(`openai says ${JSON.stringify(request.messages)}`),
  }),
  createFakeAdapter({
    id: 'anthropic',
    dialect: 'anthropic',
    chat: async (request) => chatResult(`anthropic says ${JSON.stringify(request.messages)}`),
  }),
]

const config = {
  cache: { enabled: true },
  routes: [{ name: 'team/fast', targets: [{ provider: 'openai', model: 'gpt-4o' }] }],
}

beforeEach(async () => {
  t = await createAdminTestApp({
    adapters: adapters(),
    config,
    stores: (clock) => {
      cache = createMemoryCacheStore({ clock })
      return { cache }
    },
  })
})

afterEach(async () => {
  await t.close()
})

type Asked = { cache: string | null; key: string | null }

/** One chat completion: what the cache said, and under which key. */
const ask = async (
  content: string,
  options: { key?: string; model?: string } = {}
): Promise<Asked> => {
  const response = await t.call('POST', '/v1/chat/completions', {
    key: options.key ?? masterKey,
    body: { model: options.model ?? 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] },
  })
  expect(response.status, await response.clone().text()).toBe(200)
  await response.text()
  return {
    cache: response.headers.get('x-gatehouse-cache'),
    key: response.headers.get('x-gatehouse-cache-key'),
  }
}

/** Asks until the answer is in the cache (it is written after the response): the entry's key. */
const cached = async (content: string, options: { key?: string; model?: string } = {}) => {
  const first = await ask(content, options)
  expect(first.cache).toBe('miss')
  for (let tries = 0; tries < 50; tries += 1) {
    const again = await ask(content, options)
    if (again.cache === 'hit') return again.key!
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`${content}: never stored`)
}

const purge = (body: unknown, key?: string | null) =>
  t.call('POST', '/admin/v1/cache/purge', { body, key })

const purged = async (body: Json): Promise<Json> => {
  const response = await purge(body)
  const answer = (await response.json()) as Json
  expect(response.status, JSON.stringify(answer)).toBe(200)
  return answer
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

const tenantKey = async (name: string): Promise<{ id: string; key: string }> => {
  const tenant = await t.ok<{ id: string }>('POST', '/admin/v1/tenants', {
    body: { name },
    status: 201,
  })
  const made = await t.ok<{ key: string }>('POST', '/admin/v1/keys', {
    body: { tenant: name },
    status: 201,
  })
  return { id: tenant.id, key: made.key }
}

describe('purging by key', () => {
  it('removes that entry only, by DELETE or by POST; an absent key answers 0', async () => {
    const first = await cached('first')
    const second = await cached('second')
    const third = await cached('third')
    expect(new Set([first, second, third]).size).toBe(3)

    const deleted = await t.ok('DELETE', `/admin/v1/cache/entries/${first}`)
    expect(deleted).toEqual({ object: 'cache.purge', selector: { key: first }, deleted: 1 })
    expect(await ask('first')).toEqual({ cache: 'miss', key: first })
    expect((await ask('second')).cache).toBe('hit')

    expect(await purged({ key: third })).toEqual({
      object: 'cache.purge',
      selector: { key: third },
      deleted: 1,
    })
    expect((await ask('third')).cache).toBe('miss')
    expect((await ask('second')).cache).toBe('hit')

    const again = await t.ok('DELETE', `/admin/v1/cache/entries/${'0'.repeat(64)}`)
    expect(again).toMatchObject({ deleted: 0 })
  })
})

describe('purging by tenant', () => {
  it("removes that tenant's entries only, named by name or id; the master key's stay", async () => {
    const acme = await tenantKey('acme')
    const beta = await tenantKey('beta')
    await cached('shared prompt', { key: acme.key })
    await cached('other prompt', { key: acme.key })
    await cached('shared prompt', { key: beta.key })
    await cached('shared prompt')

    expect(await purged({ tenant: 'acme' })).toEqual({
      object: 'cache.purge',
      selector: { tenant: acme.id },
      deleted: 2,
    })
    expect((await ask('shared prompt', { key: acme.key })).cache).toBe('miss')
    expect((await ask('other prompt', { key: acme.key })).cache).toBe('miss')
    expect((await ask('shared prompt', { key: beta.key })).cache).toBe('hit')
    expect((await ask('shared prompt')).cache).toBe('hit')

    expect(await purged({ tenant: beta.id })).toMatchObject({
      selector: { tenant: beta.id },
      deleted: 1,
    })
    expect((await ask('shared prompt', { key: beta.key })).cache).toBe('miss')
  })

  it('answers 404 naming `tenant` for a tenant that does not exist, and removes nothing', async () => {
    await cached('kept')
    await expectError(await purge({ tenant: 'nobody' }), 404, 'tenant', /No tenant .*"nobody"/)
    expect((await ask('kept')).cache).toBe('hit')
  })
})

describe('purging by model', () => {
  it('removes the answers that `provider/model` gave, as a route target labels them', async () => {
    await cached('one')
    await cached('two')
    await cached('one', { model: 'anthropic/claude-haiku-4-5' })
    // A route's entries are labelled by its target, not by the route's name.
    await cached('one', { model: 'team/fast' })

    expect(await purged({ model: 'openai/gpt-4o-mini' })).toEqual({
      object: 'cache.purge',
      selector: { model: 'openai/gpt-4o-mini' },
      deleted: 2,
    })
    expect((await ask('one')).cache).toBe('miss')
    expect((await ask('two')).cache).toBe('miss')
    expect((await ask('one', { model: 'anthropic/claude-haiku-4-5' })).cache).toBe('hit')
    expect((await ask('one', { model: 'team/fast' })).cache).toBe('hit')

    expect(await purged({ model: 'openai/gpt-4o' })).toMatchObject({ deleted: 1 })
    expect((await ask('one', { model: 'team/fast' })).cache).toBe('miss')
  })

  it('refuses a model no entry can be labelled with: a 400 naming `model` that says why', async () => {
    await expectError(
      await purge({ model: 'gpt-4o-mini' }),
      400,
      'model',
      /provider\/model.*configured providers: openai, anthropic/
    )
    await expectError(
      await purge({ model: 'team/fast' }),
      400,
      'model',
      /`team\/fast` is a route; its targets are openai\/gpt-4o/
    )
    await expectError(await purge({ model: 'opnai/gpt-4o' }), 400, 'model')
    await expectError(await purge({ model: 'openai/' }), 400, 'model')
  })
})

describe('purging everything', () => {
  it('removes every entry, and says how many', async () => {
    const acme = await tenantKey('acme')
    await cached('a')
    await cached('b', { key: acme.key })
    await cached('c', { model: 'anthropic/claude-haiku-4-5' })
    expect(await purged({ all: true })).toEqual({
      object: 'cache.purge',
      selector: { all: true },
      deleted: 3,
    })
    expect((await ask('a')).cache).toBe('miss')
    expect((await ask('b', { key: acme.key })).cache).toBe('miss')
    expect((await ask('c', { model: 'anthropic/claude-haiku-4-5' })).cache).toBe('miss')
    expect(await purged({ all: true })).toMatchObject({ deleted: 3 })
    expect(await purged({ all: true })).toMatchObject({ deleted: 0 })
  })
})

describe('who may purge', () => {
  it('answers 401 without a key or with a wrong one, 403 to a tenant key, and removes nothing', async () => {
    const acme = await tenantKey('acme')
    const key = await cached('kept', { key: acme.key })
    for (const [bearer, status] of [
      [null, 401],
      ['gh-wrong', 401],
      [acme.key, 403],
    ] as const) {
      await expectError(await purge({ all: true }, bearer), status, null)
      await expectError(await purge({ key }, bearer), status, null)
      await expectError(
        await t.call('DELETE', `/admin/v1/cache/entries/${key}`, { key: bearer }),
        status,
        null
      )
    }
    expect((await ask('kept', { key: acme.key })).cache).toBe('hit')
  })
})

describe('bad input', () => {
  it('is a 400 naming the field, and removes nothing', async () => {
    const key = await cached('kept')
    const cases: [unknown, string | null, RegExp][] = [
      [{}, null, /exactly one of `key`, `tenant`, `model` or `all: true`/],
      [{ key, tenant: 'acme' }, 'tenant', /not `key` and `tenant`/],
      [{ all: true, model: 'openai/gpt-4o-mini' }, 'all', /exactly one/],
      [{ all: false }, 'all', /"all": true/],
      [{ all: 'yes' }, 'all', /all/],
      [{ key: 'abc' }, 'key', /64 lowercase hex digits/],
      [{ key: key.toUpperCase() }, 'key', /64 lowercase hex digits/],
      [{ tenant: '' }, 'tenant', /tenant/],
      [{ model: 42 }, 'model', /model/],
      [{ everything: true }, 'everything', /everything/],
      [[], null, /object/],
    ]
    for (const [body, param, message] of cases)
      await expectError(await purge(body), 400, param, message)
    await expectError(
      await t.call('POST', '/admin/v1/cache/purge', { rawBody: '{"all": tru' }),
      400,
      null
    )
    await expectError(await t.call('POST', '/admin/v1/cache/purge'), 400, null)
    await expectError(
      await t.call('DELETE', '/admin/v1/cache/entries/not-a-key'),
      400,
      'key',
      /64 lowercase hex digits/
    )
    expect((await ask('kept')).cache).toBe('hit')
  })
})

describe('when the cache cannot purge', () => {
  it('answers 501 when the deployment has no prompt cache, saying so', async () => {
    const deps = {
      ...createFakeDeps({ adapters: adapters() }),
      authenticator: createMasterKeyAuthenticator(masterKey),
    }
    const app = createApp(deps)
    const headers = { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' }
    for (const [method, path, body] of [
      ['POST', '/admin/v1/cache/purge', '{"all":true}'],
      ['DELETE', `/admin/v1/cache/entries/${'a'.repeat(64)}`, undefined],
    ] as const) {
      const response = await app.request(path, { method, headers, body })
      const error = await expectError(response, 501, null, /prompt cache is off/)
      expect(error.error).toMatchObject({ type: 'server_error', code: 'cache_disabled' })
    }
  })

  it('answers 503 with Retry-After when the store fails, without its error', async () => {
    const failing = await createAdminTestApp({
      adapters: adapters(),
      config,
      stores: (clock) => ({
        cache: {
          ...createMemoryCacheStore({ clock }),
          delete: async () => {
            throw new Error('connect ECONNREFUSED 10.1.2.3:6379 (secret-password)')
          },
        },
      }),
    })
    try {
      const response = await failing.call('POST', '/admin/v1/cache/purge', {
        body: { all: true },
      })
      expect(response.headers.get('retry-after')).toBe('1')
      const error = await expectError(response, 503, null, /did not answer.*Retry/)
      expect(error.error.type).toBe('server_error')
      expect(JSON.stringify(error)).not.toMatch(/ECONNREFUSED|secret-password|10\.1\.2\.3/)
      expect(
        failing.deps.logger.lines.some((line) => line.message === 'prompt cache: a purge failed')
      ).toBe(true)
    } finally {
      await failing.close()
    }
  })
})
