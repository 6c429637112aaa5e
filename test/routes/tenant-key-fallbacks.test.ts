/**
 * A tenant key's model list and the config's global `fallbacks`, through the whole app (`createApp` over fake
 * providers and the real SQLite tenant store): the list judges a model by its own targets, so a bare name and its
 * `provider/model` spelling are allowed alike, and a stand-in outside the list never answers the key, even when the
 * model's own provider is down.
 */
import { afterEach, beforeEach, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { generateApiKey } from '../../src/core/generate-api-key.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import { chatResult, createFakeAdapter, createFakeDeps, httpError } from '../helpers/fake-deps.ts'
import {
  createTestAuthenticator,
  openTestStores,
  type TestStores,
} from '../helpers/open-test-stores.ts'

let stores: TestStores
let app: ReturnType<typeof createApp>
let openaiDown = false
let anthropicCalls = 0

beforeEach(async () => {
  openaiDown = false
  anthropicCalls = 0
  const base = createFakeDeps({
    adapters: [
      createFakeAdapter({
        id: 'openai',
        chat: async () => {
          if (openaiDown) throw httpError(503)
          return chatResult('from openai', 'gpt-4o-mini')
        },
      }),
      createFakeAdapter({
        id: 'anthropic',
        dialect: 'anthropic',
        chat: async () => {
          anthropicCalls += 1
          return chatResult('from anthropic', 'claude-haiku-4-5')
        },
      }),
    ],
    config: {
      providers: {
        openai: { models: ['gpt-4o-mini'], discoverModels: false, retry: { maxRetries: 0 } },
        anthropic: { models: ['claude-haiku-4-5'], discoverModels: false },
      },
      fallbacks: [{ provider: 'anthropic', model: 'claude-haiku-4-5' }],
    },
  })
  stores = await openTestStores(base.clock)
  app = createApp({
    ...base,
    stores: stores.stores,
    authenticator: createTestAuthenticator({
      masterKey: 'gh-master',
      stores: stores.stores,
      clock: base.clock,
    }),
  })
})

afterEach(async () => {
  await stores.close()
})

const keyFor = async (allowedModels: string[] | null): Promise<string> => {
  const tenant = await stores.stores.tenants.createTenant({ name: `t${Math.random()}`.slice(0, 9) })
  const { key, displayPrefix } = generateApiKey()
  await stores.stores.tenants.createKey({
    tenantId: tenant.id,
    name: 'ci',
    hash: await hashApiKey(key),
    displayPrefix,
    allowedModels,
  })
  return key
}

const chat = (key: string, model: string) =>
  app.request('/v1/chat/completions', {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }] }),
  })

it('allows a model in the list by its bare name as by provider/model, whatever the global fallbacks', async () => {
  const key = await keyFor(['openai/*'])
  for (const model of ['gpt-4o-mini', 'openai/gpt-4o-mini']) {
    const response = await chat(key, model)
    expect([model, response.status]).toEqual([model, 200])
  }
})

it('never answers a key from a stand-in outside its list, while one inside it stands in', async () => {
  openaiDown = true
  const narrow = await keyFor(['openai/*'])
  const refused = await chat(narrow, 'openai/gpt-4o-mini')
  expect(refused.status).toBe(502)
  expect(anthropicCalls).toBe(0)

  const wide = await keyFor(['openai/*', 'anthropic/*'])
  const served = await chat(wide, 'openai/gpt-4o-mini')
  expect(served.status).toBe(200)
  expect(served.headers.get('x-gatehouse-provider')).toBe('anthropic')
  expect(anthropicCalls).toBe(1)
})
