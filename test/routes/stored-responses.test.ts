/**
 * Stored responses are the tenant's own: through the whole app (`createApp` over a fake Anthropic-dialect provider, so
 * every Responses call is converted, and the real SQLite tenant and responses stores), a response one tenant stored is
 * a 404 to another tenant and to the master key, for retrieve, delete and input items alike, and its id chains nothing
 * for them; the tenant that made it reads it, chains it and deletes it, at once: a converted response is stored before
 * the end of its answer reaches the client.
 */
import OpenAI from 'openai'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ChatRequest } from '../../providers/spec/chat-types.ts'
import { createApp } from '../../src/app.ts'
import { generateApiKey } from '../../src/core/generate-api-key.ts'
import { hashApiKey } from '../../src/core/hash-api-key.ts'
import { createSqlResponseStore } from '../../src/stores/sql/sql-response-store.ts'
import { createFakeClock } from '../helpers/fake-clock.ts'
import { chatResult, createFakeAdapter, createFakeDeps } from '../helpers/fake-deps.ts'
import {
  createTestAuthenticator,
  openTestStores,
  type TestStores,
} from '../helpers/open-test-stores.ts'

type Setup = {
  stores: TestStores
  /** The usage events the app recorded. */
  events: { status: number; refused: boolean; operation: string | null }[]
  /** What the upstream was asked, in order. */
  asked: ChatRequest[]
  client(key: string): OpenAI
  keyFor(tenant: string): Promise<string>
}

let t: Setup

beforeEach(async () => {
  const clock = createFakeClock(Date.UTC(2026, 11, 3, 9))
  const asked: ChatRequest[] = []
  const base = createFakeDeps({
    clock,
    adapters: [
      createFakeAdapter({
        id: 'anthropic',
        dialect: 'anthropic',
        chat: async (request) => {
          asked.push(request)
          return chatResult(`answer ${asked.length}`, 'claude-haiku-4-5')
        },
      }),
    ],
    config: { providers: { anthropic: { models: ['claude-haiku-4-5'], discoverModels: false } } },
  })
  const stores = await openTestStores(clock)
  const deps = {
    ...base,
    stores: {
      ...stores.stores,
      responses: createSqlResponseStore({ database: stores.database, clock }),
    },
    authenticator: createTestAuthenticator({
      masterKey: 'gh-master',
      stores: stores.stores,
      clock,
    }),
  }
  const app = createApp(deps)
  const fetchApp = async (input: string | URL | Request, init?: RequestInit) =>
    app.request(new Request(input, init))
  t = {
    stores,
    events: base.usage.events as never,
    asked,
    client: (apiKey) =>
      new OpenAI({ apiKey, baseURL: 'http://gateway.test/v1', fetch: fetchApp, maxRetries: 0 }),
    keyFor: async (name) => {
      const tenant = await stores.stores.tenants.createTenant({ name })
      const generated = generateApiKey()
      await stores.stores.tenants.createKey({
        name: 'app',
        tenantId: tenant.id,
        hash: await hashApiKey(generated.key),
        displayPrefix: generated.displayPrefix,
      })
      return generated.key
    },
  }
})

afterEach(async () => {
  await t.stores.close()
})

const statusOf = (promise: Promise<unknown>): Promise<number | undefined> =>
  promise.then(
    () => 200,
    (error: unknown) => (error as InstanceType<typeof OpenAI.APIError>).status
  )

describe('stored responses, per tenant', () => {
  it('are the tenant’s own: a 404 to another tenant and to the master key, whatever the call', async () => {
    const acme = t.client(await t.keyFor('acme'))
    const globex = t.client(await t.keyFor('globex'))
    const master = t.client('gh-master')
    const response = await acme.responses.create({
      model: 'anthropic/claude-haiku-4-5',
      input: 'secret plan',
    })

    expect((await acme.responses.retrieve(response.id)).output).toEqual(response.output)
    for (const [other, chainStatus] of [
      // A tenant key gets a 404 for an id its tenant did not make, as for any unknown id.
      [globex, 404],
      // The master key names any id; the converted route cannot resolve one it does not hold for it.
      [master, 400],
    ] as const) {
      expect(await statusOf(other.responses.retrieve(response.id))).toBe(404)
      expect(await statusOf(other.responses.inputItems.list(response.id))).toBe(404)
      expect(await statusOf(other.responses.delete(response.id))).toBe(404)
      // Its id chains nothing: the converted route cannot resolve it for them.
      expect(
        await statusOf(
          other.responses.create({
            model: 'anthropic/claude-haiku-4-5',
            input: 'continue',
            previous_response_id: response.id,
          })
        )
      ).toBe(chainStatus)
    }
    expect(t.asked).toHaveLength(1)

    // Still there for its tenant: chained (the upstream gets the whole conversation), then deleted.
    await acme.responses.create({
      model: 'anthropic/claude-haiku-4-5',
      input: 'continue',
      previous_response_id: response.id,
    })
    expect(t.asked[1].messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'secret plan' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'answer 1' }] },
      { role: 'user', content: [{ type: 'text', text: 'continue' }] },
    ])
    await acme.responses.delete(response.id)
    expect(await statusOf(acme.responses.retrieve(response.id))).toBe(404)
  })

  it('resolves item_reference to the tenant’s stored items only', async () => {
    const acme = t.client(await t.keyFor('acme'))
    const globex = t.client(await t.keyFor('globex'))
    const first = await acme.responses.create({ model: 'anthropic/claude-haiku-4-5', input: 'one' })
    const message = first.output[0]
    const reference = { type: 'item_reference' as const, id: message.id! }
    await acme.responses.create({
      model: 'anthropic/claude-haiku-4-5',
      input: [{ role: 'user', content: 'one' }, reference, { role: 'user', content: 'two' }],
    })
    expect(t.asked[1].messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'answer 1' }],
    })
    expect(
      await statusOf(
        globex.responses.create({ model: 'anthropic/claude-haiku-4-5', input: [reference] })
      )
    ).toBe(404)
  })

  it('resolves references over three turns, as the AI SDK replays a conversation with store on', async () => {
    const acme = t.client(await t.keyFor('acme'))
    const model = 'anthropic/claude-haiku-4-5'
    const first = await acme.responses.create({ model, input: [{ role: 'user', content: 'one' }] })
    const second = await acme.responses.create({
      model,
      input: [
        { role: 'user', content: 'one' },
        { type: 'item_reference', id: first.output[0].id! },
        { role: 'user', content: 'two' },
      ],
    })
    await acme.responses.create({
      model,
      input: [
        { role: 'user', content: 'one' },
        { type: 'item_reference', id: first.output[0].id! },
        { role: 'user', content: 'two' },
        { type: 'item_reference', id: second.output[0].id! },
        { role: 'user', content: 'three' },
      ],
    })
    expect(t.asked[2].messages.map((message) => message.content)).toEqual([
      [{ type: 'text', text: 'one' }],
      [{ type: 'text', text: 'answer 1' }],
      [{ type: 'text', text: 'two' }],
      [{ type: 'text', text: 'answer 2' }],
      [{ type: 'text', text: 'three' }],
    ])
    // The second response's input is listed as the items it stood for, references resolved.
    const items = await acme.responses.inputItems.list(second.id, { order: 'asc' })
    expect(items.data.map((item) => item.type)).toEqual(['message', 'message', 'message'])
  })
})

describe('reads of stored responses in the usage', () => {
  it('makes no event for an id that is not there, read, listed, deleted or cancelled, as for one that is', async () => {
    const key = await t.keyFor('acme')
    const client = t.client(key)
    const created = await client.responses.create({ model: 'claude-haiku-4-5', input: 'hi' })
    const before = t.events.length
    expect(before).toBe(1)
    await client.responses.retrieve(created.id)
    for (const call of [
      () => client.responses.retrieve('resp_not_there'),
      () => client.responses.inputItems.list('resp_not_there'),
      () => client.responses.delete('resp_not_there'),
      () => client.responses.cancel('resp_not_there'),
    ])
      expect(await statusOf(call())).toBe(404)
    expect(t.events.length).toBe(before)
    // A refusal for the key is traffic like any other.
    expect(await statusOf(t.client('gh-wrong').responses.retrieve('resp_not_there'))).toBe(401)
    expect(t.events.slice(before)).toMatchObject([{ status: 401, refused: true }])
  })
})
