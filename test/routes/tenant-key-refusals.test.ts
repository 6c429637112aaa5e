/**
 * What a tenant key's refused call looks like to its client, in both dialects, through the whole app (`createApp`
 * over fake providers, real SQLite tenant and usage stores, memory rate-limit and budget stores, one fake clock) and
 * through the official SDKs (their `fetch` is `app.request`): a spent budget is a 429 with OpenAI's
 * `insufficient_quota` (Anthropic's `rate_limit_error`) saying it is the budget, with `Retry-After` the period's end
 * and `x-should-retry: false`, so the SDKs raise `RateLimitError` at once instead of retrying; a model outside the
 * key's list is a 403 naming it (`PermissionDeniedError`, Anthropic's `permission_error`); a rate limit is a 429 with
 * `Retry-After` in both.
 */
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { generateApiKey } from '../../src/core/generate-api-key.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import { createMemoryAdmissionStore } from '../../src/stores/memory/memory-admission-store.ts'
import type { CreateKeyInput } from '../../src/stores/tenant-store.ts'
import { createFakeClock } from '../helpers/fake-clock.ts'
import { chatResult, createFakeAdapter, createFakeDeps } from '../helpers/fake-deps.ts'
import {
  createTestAuthenticator,
  openTestStores,
  type TestStores,
} from '../helpers/open-test-stores.ts'

const now = Date.UTC(2026, 5, 15, 12)
/** A monthly budget spent in June renews on July 1st, 15.5 days later. */
const untilJuly = (Date.UTC(2026, 6, 1) - now) / 1_000

type Setup = {
  stores: TestStores
  app: ReturnType<typeof createApp>
  /** What the SDKs sent, one entry per HTTP request. */
  sent: string[]
  openai(key: string): OpenAI
  anthropic(key: string): Anthropic
  createKey(
    options: Partial<Omit<CreateKeyInput, 'tenantId' | 'hash'>>
  ): Promise<{ key: string; id: string }>
}

let t: Setup

beforeEach(async () => {
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
      providers: {
        // Real provider types, so the shipped prices apply (a budget needs a priced model).
        openai: { type: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], discoverModels: false },
        anthropic: { models: ['claude-haiku-4-5', 'claude-opus-4-7'], discoverModels: false },
      },
    },
  })
  const stores = await openTestStores(clock)
  const usage = stores.stores.usage
  const deps = {
    ...base,
    stores: {
      ...stores.stores,
      admission: createMemoryAdmissionStore({
        clock,
        loadSpent: (query) =>
          usage.spent(
            query.scope === 'tenant' ? { tenantId: query.id } : { keyId: query.id },
            query.start ?? 0
          ),
      }),
    },
    authenticator: createTestAuthenticator({
      masterKey: 'gh-master',
      stores: stores.stores,
      clock,
    }),
  }
  const app = createApp(deps)
  const sent: string[] = []
  const fetchApp = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init)
    sent.push(`${request.method} ${new URL(request.url).pathname}`)
    return app.request(request)
  }
  const tenant = await stores.stores.tenants.createTenant({ name: 'acme' })
  t = {
    stores,
    app,
    sent,
    // The SDKs' default retries (2): a refusal they must not retry is sent once.
    openai: (apiKey) => new OpenAI({ apiKey, baseURL: 'http://gateway.test/v1', fetch: fetchApp }),
    anthropic: (apiKey) =>
      new Anthropic({ apiKey, baseURL: 'http://gateway.test', fetch: fetchApp }),
    createKey: async (options) => {
      const generated = generateApiKey()
      const record = await stores.stores.tenants.createKey({
        name: 'ci',
        ...options,
        tenantId: tenant.id,
        hash: await hashApiKey(generated.key),
        displayPrefix: generated.displayPrefix,
      })
      return { key: generated.key, id: record.id }
    },
  }
})

afterEach(async () => {
  await t.stores.close()
})

/** A key whose monthly budget of $1 was spent this month (one request's cost in the usage store). */
const spentKey = async (
  budget: CreateKeyInput['budget'] = { microUsd: 1_000_000, period: 'month' },
  costMicroUsd = 1_000_000
): Promise<string> => {
  const { key, id } = await t.createKey({ budget })
  const tenant = await t.stores.stores.tenants.getTenantByName('acme')
  await t.stores.stores.usage.record([
    {
      id: crypto.randomUUID(),
      kind: 'request',
      time: now - 3_600_000,
      requestId: 'req_earlier',
      tenantId: tenant!.id,
      keyId: id,
      userId: null,
      tags: [],
      operation: 'messages',
      requestedModel: 'claude-haiku-4-5',
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
      attempts: 1,
      status: 200,
      stream: false,
      error: null,
      inputTokens: 100_000,
      outputTokens: 180_000,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: null,
      costMicroUsd,
      latencyMs: 900,
      ttfbMs: 300,
      clientAborted: false,
      cache: null,
      savedCostMicroUsd: null,
    },
  ])
  return key
}

const post = (path: string, key: string, body: unknown, headers: Record<string, string> = {}) =>
  t.app.request(path, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })

const chatBody = (model: string) => ({ model, messages: [{ role: 'user', content: 'Hi' }] })
const messagesBody = (model: string) => ({ ...chatBody(model), max_tokens: 64 })
const anthropicHeaders = { 'anthropic-version': '2023-06-01' }

const caught = async <T>(promise: Promise<unknown>): Promise<T> =>
  promise.then(
    () => {
      throw new Error('expected a refusal')
    },
    (error: unknown) => error as T
  )

describe('a spent budget', () => {
  it('is a 429 insufficient_quota in OpenAI shape on /v1/chat/completions, with Retry-After the period end', async () => {
    const key = await spentKey()
    const response = await post('/v1/chat/completions', key, chatBody('gpt-4o-mini'))
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBe(String(untilJuly))
    expect(response.headers.get('x-should-retry')).toBe('false')
    const body = (await response.json()) as { error: Record<string, unknown> }
    expect(body).toEqual({
      error: {
        message:
          'The monthly budget of this key is spent ($1.00 of $1.00). It renews at 2026-07-01T00:00:00.000Z.',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    })
  })

  it('is a 429 rate_limit_error in Anthropic shape on /v1/messages, saying it is the budget', async () => {
    const key = await spentKey()
    const response = await post(
      '/v1/messages',
      key,
      messagesBody('claude-haiku-4-5'),
      anthropicHeaders
    )
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBe(String(untilJuly))
    expect(response.headers.get('x-should-retry')).toBe('false')
    const body = (await response.json()) as Record<string, unknown>
    expect(body).toEqual({
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message:
          'The monthly budget of this key is spent ($1.00 of $1.00). It renews at 2026-07-01T00:00:00.000Z.',
      },
      request_id: response.headers.get('request-id'),
    })
  })

  it('raises RateLimitError in the OpenAI SDK with the code and the message, without retrying', async () => {
    const key = await spentKey()
    const error = await caught<InstanceType<typeof OpenAI.RateLimitError>>(
      t.openai(key).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hi' }],
      })
    )
    expect(error).toBeInstanceOf(OpenAI.RateLimitError)
    expect(error.status).toBe(429)
    expect(error.code).toBe('insufficient_quota')
    expect(error.type).toBe('insufficient_quota')
    expect(error.message).toContain('monthly budget of this key is spent')
    expect(t.sent).toEqual(['POST /v1/chat/completions'])
  })

  it('raises RateLimitError in the Anthropic SDK, streamed or not, with the message, without retrying', async () => {
    const key = await spentKey()
    const client = t.anthropic(key)
    const error = await caught<InstanceType<typeof Anthropic.RateLimitError>>(
      client.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Hi' }],
      })
    )
    expect(error).toBeInstanceOf(Anthropic.RateLimitError)
    expect(error.status).toBe(429)
    expect(error.message).toContain('monthly budget of this key is spent')
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } })
    expect(error.headers?.get('retry-after')).toBe(String(untilJuly))

    const streamed = await caught<InstanceType<typeof Anthropic.RateLimitError>>(
      client.messages
        .stream({
          model: 'claude-haiku-4-5',
          max_tokens: 64,
          messages: [{ role: 'user', content: 'Hi' }],
        })
        .finalMessage()
    )
    expect(streamed).toBeInstanceOf(Anthropic.RateLimitError)
    expect(streamed.message).toContain('budget')
    expect(t.sent).toEqual(['POST /v1/messages', 'POST /v1/messages'])
  })
})

describe('a request dearer than what is left of a budget', () => {
  it('is told so, with the renewal as Retry-After, rather than to wait for requests in flight', async () => {
    // Nothing in flight: $0.001 a day, $0.0009 of it spent, and a request that may cost more than the rest.
    const key = await spentKey({ microUsd: 1_000, period: 'day' }, 900)
    const response = await post('/v1/chat/completions', key, {
      ...chatBody('gpt-4o-mini'),
      max_tokens: 1000,
    })
    expect(response.status).toBe(429)
    expect(response.headers.get('x-should-retry')).toBe('false')
    expect(response.headers.get('retry-after')).toBe(String(12 * 3600))
    const body = (await response.json()) as { error: Record<string, unknown> }
    expect(body.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' })
    expect(body.error.message).toMatch(
      /^This request's worst-case cost \(\$0\.000\d+\) is more than is left of the daily budget of this key \(\$0\.0001 of \$0\.001\)\. It renews at 2026-06-16T00:00:00\.000Z\. Set a lower `max_tokens`/
    )
    expect(body.error.message).not.toMatch(/in flight/)
    // One the budget can hold passes.
    const small = await post('/v1/chat/completions', key, {
      ...chatBody('gpt-4o-mini'),
      max_tokens: 10,
    })
    expect(small.status).toBe(200)
  })

  it('has no Retry-After when the request is dearer than the whole budget', async () => {
    const { key } = await t.createKey({ budget: { microUsd: 100, period: 'total' } })
    const response = await post('/v1/chat/completions', key, {
      ...chatBody('gpt-4o-mini'),
      max_tokens: 1000,
    })
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBeNull()
    expect(response.headers.get('x-should-retry')).toBe('false')
  })
})

describe('a model outside the key’s list', () => {
  const narrow = () =>
    t.createKey({ allowedModels: ['openai/gpt-4o-mini', 'anthropic/claude-haiku-*'] })

  it('is a 403 naming the model in both dialects; the models in the list are served', async () => {
    const { key } = await narrow()
    expect((await post('/v1/chat/completions', key, chatBody('gpt-4o-mini'))).status).toBe(200)
    const openai = await post('/v1/chat/completions', key, chatBody('gpt-4o'))
    expect(openai.status).toBe(403)
    expect(await openai.json()).toEqual({
      error: {
        message: 'The model `gpt-4o` is not allowed for this key.',
        type: 'permission_error',
        param: 'model',
        code: 'model_not_allowed',
      },
    })

    const allowed = await post(
      '/v1/messages',
      key,
      messagesBody('claude-haiku-4-5'),
      anthropicHeaders
    )
    expect(allowed.status).toBe(200)
    const anthropic = await post(
      '/v1/messages',
      key,
      messagesBody('claude-opus-4-7'),
      anthropicHeaders
    )
    expect(anthropic.status).toBe(403)
    expect(await anthropic.json()).toMatchObject({
      type: 'error',
      error: {
        type: 'permission_error',
        message: 'The model `claude-opus-4-7` is not allowed for this key.',
      },
    })
    // Counting tokens is not billed, but the list holds there too.
    const counted = await post(
      '/v1/messages/count_tokens',
      key,
      chatBody('claude-opus-4-7'),
      anthropicHeaders
    )
    expect(counted.status).toBe(403)
    expect(((await counted.json()) as { error: { type: string } }).error.type).toBe(
      'permission_error'
    )
  })

  it('raises PermissionDeniedError in both SDKs with the model in the message', async () => {
    const { key } = await narrow()
    const openai = await caught<InstanceType<typeof OpenAI.PermissionDeniedError>>(
      t.openai(key).chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Hi' }],
      })
    )
    expect(openai).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect(openai.code).toBe('model_not_allowed')
    expect(openai.message).toContain('`gpt-4o`')

    const anthropic = await caught<InstanceType<typeof Anthropic.PermissionDeniedError>>(
      t.anthropic(key).messages.create({
        model: 'claude-opus-4-7',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Hi' }],
      })
    )
    expect(anthropic).toBeInstanceOf(Anthropic.PermissionDeniedError)
    expect(anthropic.message).toContain('`claude-opus-4-7`')
    expect(anthropic.error).toMatchObject({ error: { type: 'permission_error' } })
    // A 403 is not retried by either SDK.
    expect(t.sent).toEqual(['POST /v1/chat/completions', 'POST /v1/messages'])
  })
})

describe('a rate limit', () => {
  it('is a 429 rate_limit_error with Retry-After on /v1/messages, and the SDK says so', async () => {
    const { key } = await t.createKey({ limits: { rpm: 1 } })
    const first = await post(
      '/v1/messages',
      key,
      messagesBody('claude-haiku-4-5'),
      anthropicHeaders
    )
    expect(first.status).toBe(200)
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    const refused = await post(
      '/v1/messages',
      key,
      messagesBody('claude-haiku-4-5'),
      anthropicHeaders
    )
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await refused.json()).toMatchObject({
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: 'Rate limit reached for this key: 1 requests per minute.',
      },
    })
    const error = await caught<InstanceType<typeof Anthropic.RateLimitError>>(
      new Anthropic({
        apiKey: key,
        baseURL: 'http://gateway.test',
        maxRetries: 0,
        fetch: async (input, init) => t.app.request(new Request(input, init)),
      }).messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Hi' }],
      })
    )
    expect(error).toBeInstanceOf(Anthropic.RateLimitError)
    expect(error.message).toContain('Rate limit reached')
  })

  it('refuses a request larger than the tokens-per-minute limit as one that no wait lets through, and no SDK retries it', async () => {
    const { key } = await t.createKey({ limits: { tpm: 50 } })
    const response = await post('/v1/chat/completions', key, {
      ...chatBody('gpt-4o-mini'),
      max_tokens: 1000,
    })
    expect(response.status).toBe(429)
    expect(response.headers.get('x-should-retry')).toBe('false')
    expect(response.headers.get('retry-after')).toBeNull()
    const body = (await response.json()) as { error: { message: string; code: string } }
    expect(body.error.code).toBe('rate_limit_exceeded')
    expect(body.error.message).toMatch(
      /^This request needs about 1\d{3} tokens, more than the 50 tokens per minute of this key allow/
    )

    const error = await caught<InstanceType<typeof OpenAI.RateLimitError>>(
      t.openai(key).chat.completions.create({
        model: 'gpt-4o-mini',
        max_tokens: 1000,
        messages: [{ role: 'user', content: 'Hi' }],
      })
    )
    expect(error).toBeInstanceOf(OpenAI.RateLimitError)
    expect(error.message).toContain('more than the 50 tokens per minute')
    // Sent once: the SDK's two retries would meet the same refusal.
    expect(t.sent).toEqual(['POST /v1/chat/completions'])
  })
})
