/**
 * The `x-ratelimit-*` headers of a tenant key's responses that take no admission, through the whole app
 * (`createApp` over fake providers, real SQLite tenant and usage stores, the memory admission store, one fake clock),
 * in both dialects: refusals before admission (a 400 from validation, a 403 for a model outside the key's list, a 404
 * for an unknown endpoint), a count of tokens, the model list, a usage read and the stored-response routes carry the
 * tightest of the key's and its tenant's requests and tokens limits as they stand, and none of them takes anything. A store that does not answer
 * or fails leaves the headers out and nothing else; the master key never reaches the store.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { generateApiKey } from '../../src/core/generate-api-key.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import type { AdmissionStore } from '../../src/stores/admission-store.ts'
import { createMemoryAdmissionStore } from '../../src/stores/memory/memory-admission-store.ts'
import { createMemoryResponseStore } from '../../src/stores/memory/memory-response-store.ts'
import type { CreateKeyInput } from '../../src/stores/tenant-store.ts'
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.ts'
import {
  chatResult,
  createFakeAdapter,
  createFakeDeps,
  type LogLine,
} from '../helpers/fake-deps.ts'
import {
  createTestAuthenticator,
  openTestStores,
  type TestStores,
} from '../helpers/open-test-stores.ts'

const now = Date.UTC(2026, 5, 15, 12)
const anthropicHeaders = { 'anthropic-version': '2023-06-01' }

type Setup = {
  stores: TestStores
  clock: FakeClock
  app: ReturnType<typeof createApp>
  logLines: LogLine[]
  /** How many times the admission store was asked to peek. */
  peeks: () => number
  /** Waits for the work after the responses (the stored responses' writes). */
  settled: () => Promise<unknown>
  createKey(
    options: Partial<Omit<CreateKeyInput, 'tenantId' | 'hash'>>,
    tenantLimits?: CreateKeyInput['limits']
  ): Promise<string>
}

let opened: TestStores | undefined

afterEach(async () => {
  await opened?.close()
  opened = undefined
})

/** The app over a memory admission store, whose `peek` `peekWith` may replace (a store that fails, or is away). */
const setup = async (
  options: {
    peekWith?: (memory: AdmissionStore) => AdmissionStore['peek']
    bodyLimitBytes?: number
  } = {}
): Promise<Setup> => {
  const { peekWith } = options
  const clock = createFakeClock(now)
  const base = createFakeDeps({
    clock,
    adapters: [
      createFakeAdapter({ id: 'openai', chat: async () => chatResult('hello', 'gpt-4o-mini') }),
      createFakeAdapter({
        id: 'anthropic',
        dialect: 'anthropic',
        chat: async () => chatResult('hello', 'claude-haiku-4-5'),
      }),
    ],
    config: {
      ...(options.bodyLimitBytes === undefined
        ? {}
        : { server: { bodyLimitBytes: options.bodyLimitBytes } }),
      providers: {
        openai: { type: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], discoverModels: false },
        anthropic: { models: ['claude-haiku-4-5', 'claude-opus-4-7'], discoverModels: false },
      },
    },
  })
  const stores = await openTestStores(clock)
  opened = stores
  const memory = createMemoryAdmissionStore({ clock, loadSpent: async () => 0 })
  const peek = peekWith?.(memory) ?? memory.peek
  let peeks = 0
  const admission: AdmissionStore = {
    admit: (request) => memory.admit(request),
    settle: (ticket, usage) => memory.settle(ticket, usage),
    peek: (request) => ((peeks += 1), peek(request)),
  }
  const deferred: Promise<unknown>[] = []
  const deps = {
    ...base,
    defer: (work: Promise<unknown>) => void deferred.push(work),
    stores: { ...stores.stores, admission, responses: createMemoryResponseStore({ clock }) },
    authenticator: createTestAuthenticator({
      masterKey: 'gh-master',
      stores: stores.stores,
      clock,
    }),
  }
  return {
    stores,
    clock,
    app: createApp(deps),
    logLines: base.logger.lines,
    peeks: () => peeks,
    settled: () => Promise.all(deferred.splice(0)),
    createKey: async (options, tenantLimits) => {
      const tenant = await stores.stores.tenants.createTenant({
        name: `t-${Math.random().toString(36).slice(2, 10)}`,
        limits: tenantLimits,
      })
      const generated = generateApiKey()
      await stores.stores.tenants.createKey({
        name: 'ci',
        ...options,
        tenantId: tenant.id,
        hash: await hashApiKey(generated.key),
        displayPrefix: generated.displayPrefix,
      })
      return generated.key
    },
  }
}

const request = (
  t: Setup,
  key: string,
  path: string,
  init: { body?: unknown; headers?: Record<string, string> } = {}
): Promise<Response> =>
  Promise.resolve(
    t.app.request(path, {
      method: init.body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...init.headers,
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    })
  )

const chatBody = (model: string) => ({ model, messages: [{ role: 'user', content: 'Hi' }] })
const messagesBody = (model: string) => ({ ...chatBody(model), max_tokens: 64 })

/** The limit headers of a response. */
const limitHeaders = (response: Response): Record<string, string> =>
  Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('x-ratelimit-')))

/** Every kind of response that takes no admission, for `key`: status and headers. */
const unadmitted = async (t: Setup, key: string) => {
  const responses = {
    'chat 400': await request(t, key, '/v1/chat/completions', { body: { model: 'gpt-4o-mini' } }),
    'chat 403': await request(t, key, '/v1/chat/completions', { body: chatBody('gpt-4o') }),
    'messages 400': await request(t, key, '/v1/messages', {
      body: chatBody('claude-haiku-4-5'),
      headers: anthropicHeaders,
    }),
    'messages 403': await request(t, key, '/v1/messages', {
      body: messagesBody('claude-opus-4-7'),
      headers: anthropicHeaders,
    }),
    'responses 400': await request(t, key, '/v1/responses', { body: { input: 'Hi' } }),
    'embeddings 400': await request(t, key, '/v1/embeddings', { body: { input: 'hi' } }),
    'unknown endpoint 404': await request(t, key, '/v1/nothing-here'),
    'count_tokens 200': await request(t, key, '/v1/messages/count_tokens', {
      body: chatBody('gpt-4o-mini'),
      headers: anthropicHeaders,
    }),
    'models 200': await request(t, key, '/v1/models'),
    'anthropic models 200': await request(t, key, '/v1/models', { headers: anthropicHeaders }),
    'model 200': await request(t, key, '/v1/models/openai%2Fgpt-4o-mini'),
    'usage 200': await request(t, key, '/v1/usage'),
  }
  return Object.fromEntries(
    Object.entries(responses).map(([name, response]) => [
      name,
      { status: response.status, headers: limitHeaders(response) },
    ])
  )
}

const statuses = {
  'chat 400': 400,
  'chat 403': 403,
  'messages 400': 400,
  'messages 403': 403,
  'responses 400': 400,
  'embeddings 400': 400,
  'unknown endpoint 404': 404,
  'count_tokens 200': 200,
  'models 200': 200,
  'anthropic models 200': 200,
  'model 200': 200,
  'usage 200': 200,
}

/** Every response of `unadmitted` with `headers`. */
const allWith = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(statuses).map(([name, status]) => [name, { status, headers }]))

describe("a tenant key's responses that take no admission", () => {
  it('carry its limits as they stand, in both dialects, and take nothing from them', async () => {
    const t = await setup()
    const key = await t.createKey({
      limits: { rpm: 5, tpm: 10_000 },
      allowedModels: ['openai/gpt-4o-mini', 'anthropic/claude-haiku-*'],
    })
    const served = await request(t, key, '/v1/chat/completions', { body: chatBody('gpt-4o-mini') })
    expect(served.status).toBe(200)
    expect(limitHeaders(served)).toMatchObject({
      'x-ratelimit-limit-requests': '5',
      'x-ratelimit-remaining-requests': '4',
      'x-ratelimit-reset-requests': '1m0s',
      'x-ratelimit-limit-tokens': '10000',
    })
    await t.clock.advance(10_000)

    // The call's tokens as settled (its real count): what every response below shows as left.
    const tokensLeft = Number(
      (await request(t, key, '/v1/models')).headers.get('x-ratelimit-remaining-tokens')
    )
    expect(tokensLeft).toBeGreaterThan(10_000 - 100)
    expect(tokensLeft).toBeLessThan(10_000)
    // Twice over, all twelve: the second round reads what the first left, which is what the call left.
    for (let round = 0; round < 2; round += 1)
      expect(await unadmitted(t, key)).toEqual(
        allWith({
          'x-ratelimit-limit-requests': '5',
          'x-ratelimit-remaining-requests': '4',
          'x-ratelimit-reset-requests': '50s',
          'x-ratelimit-limit-tokens': '10000',
          'x-ratelimit-remaining-tokens': String(tokensLeft),
          'x-ratelimit-reset-tokens': '50s',
        })
      )
    const next = await request(t, key, '/v1/messages', {
      body: messagesBody('claude-haiku-4-5'),
      headers: anthropicHeaders,
    })
    expect(next.status).toBe(200)
    expect(next.headers.get('x-ratelimit-remaining-requests')).toBe('3')
  })

  it('include the stored-response routes: retrieve, input items, delete, and a response not found', async () => {
    const t = await setup()
    const key = await t.createKey({ limits: { rpm: 5 } })
    const created = await request(t, key, '/v1/responses', {
      body: { model: 'gpt-4o-mini', input: 'Hi' },
    })
    expect(created.status).toBe(200)
    expect(created.headers.get('x-ratelimit-remaining-requests')).toBe('4')
    const { id } = (await created.json()) as { id: string }
    await t.settled()
    const answers = [
      await request(t, key, `/v1/responses/${id}`),
      await request(t, key, `/v1/responses/${id}/input_items`),
      await t.app.request(`/v1/responses/${id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${key}` },
      }),
      await request(t, key, `/v1/responses/${id}`),
    ]
    expect(answers.map((response) => response.status)).toEqual([200, 200, 200, 404])
    // One read of the limits per response, the 404 the route threw included (its error reuses the route's read).
    const before = t.peeks()
    const unknown = await request(t, key, '/v1/models/no-such-model')
    expect(unknown.status).toBe(404)
    expect(limitHeaders(unknown)['x-ratelimit-remaining-requests']).toBe('4')
    expect(t.peeks() - before).toBe(1)
    for (const response of answers)
      expect(limitHeaders(response)).toEqual({
        'x-ratelimit-limit-requests': '5',
        'x-ratelimit-remaining-requests': '4',
        'x-ratelimit-reset-requests': '1m0s',
      })
  })

  it('include a 413 for a body over the limit sent without a length, refused once the key is known', async () => {
    const t = await setup({ bodyLimitBytes: 1_000 })
    const key = await t.createKey({ limits: { rpm: 5 } })
    const text = JSON.stringify(chatBody('x'.repeat(5_000)))
    const chunked = await t.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start: (controller) => {
          controller.enqueue(new TextEncoder().encode(text))
          controller.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)
    expect(chunked.status).toBe(413)
    expect(limitHeaders(chunked)).toEqual({
      'x-ratelimit-limit-requests': '5',
      'x-ratelimit-remaining-requests': '5',
      'x-ratelimit-reset-requests': '0ms',
    })
    // With its length declared, it is refused before the key is looked at: no key, no limits to show.
    const declared = await request(t, key, '/v1/chat/completions', {
      body: chatBody('x'.repeat(5_000)),
      headers: { 'content-length': String(new TextEncoder().encode(text).length) },
    })
    expect(declared.status).toBe(413)
    expect(limitHeaders(declared)).toEqual({})
  })

  it("show the tightest of the key's and its tenant's limits, each dimension on its own", async () => {
    const t = await setup()
    // The tenant's requests are the tighter, the key's tokens; the key has no requests limit of its own.
    const key = await t.createKey(
      { limits: { tpm: 1_000 } },
      { rpm: 3, tpm: 50_000, concurrency: null }
    )
    const answer = await request(t, key, '/v1/models')
    expect(limitHeaders(answer)).toEqual({
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '3',
      'x-ratelimit-reset-requests': '0ms',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '1000',
      'x-ratelimit-reset-tokens': '0ms',
    })
  })

  it('go without them, and without delay or failure, when the store does not answer or fails', async () => {
    for (const peek of [
      () => async () => null,
      () => async () => {
        throw new Error('the store broke')
      },
    ]) {
      const t = await setup({ peekWith: peek })
      const key = await t.createKey({
        limits: { rpm: 5 },
        allowedModels: ['openai/gpt-4o-mini', 'anthropic/claude-haiku-*'],
      })
      expect(await unadmitted(t, key)).toEqual(allWith({}))
      expect(t.peeks()).toBe(12)
      // Admission itself is unchanged.
      const served = await request(t, key, '/v1/chat/completions', {
        body: chatBody('gpt-4o-mini'),
      })
      expect(served.headers.get('x-ratelimit-remaining-requests')).toBe('4')
      await opened?.close()
      opened = undefined
    }
  })

  it('logs a store that fails, once per response', async () => {
    const t = await setup({
      peekWith: () => async () => {
        throw new Error('the store broke')
      },
    })
    const key = await t.createKey({ limits: { rpm: 5 } })
    expect((await request(t, key, '/v1/models')).status).toBe(200)
    expect(
      t.logLines.filter(
        (line) => line.message === 'admission: reading the limits for the headers failed'
      )
    ).toHaveLength(1)
  })
})

describe('no limit headers', () => {
  it('for the master key, which never reaches the store', async () => {
    const t = await setup()
    const responses = await unadmitted(t, 'gh-master')
    // No model list holds the master key: its "403"s are served.
    expect(responses).toMatchObject({
      'chat 403': { status: 200 },
      'messages 403': { status: 200 },
    })
    for (const { headers } of Object.values(responses)) expect(headers).toEqual({})
    expect(t.peeks()).toBe(0)
  })

  it('for a key and tenant without a requests or tokens limit, which never reaches the store either', async () => {
    const t = await setup()
    const key = await t.createKey(
      {
        limits: { concurrency: 2 },
        budget: { microUsd: 1_000_000, period: 'month' },
        allowedModels: ['openai/gpt-4o-mini', 'anthropic/claude-haiku-*'],
      },
      { rpm: null, tpm: null, concurrency: 10 }
    )
    expect(await unadmitted(t, key)).toEqual(allWith({}))
    expect(t.peeks()).toBe(0)
  })

  it('beyond its own on a refusal by the limits: the admission tells, no peek', async () => {
    const t = await setup()
    const key = await t.createKey({ limits: { rpm: 1 } })
    expect(
      (await request(t, key, '/v1/chat/completions', { body: chatBody('gpt-4o-mini') })).status
    ).toBe(200)
    const refused = await request(t, key, '/v1/chat/completions', { body: chatBody('gpt-4o-mini') })
    expect(refused.status).toBe(429)
    expect(limitHeaders(refused)).toMatchObject({
      'x-ratelimit-limit-requests': '1',
      'x-ratelimit-remaining-requests': '0',
    })
    expect(t.peeks()).toBe(0)
  })
})
