/**
 * What every `/v1` request leaves in the usage sink and the execution observer, through the whole app
 * (`createApp` over fake deps, driven by `app.request()`: no socket, no server). A request refused before routing
 * (no key, a wrong key, a body over the limit, a body that fails validation, an unknown endpoint) is one event marked
 * `refused`; a routed call is one event naming the principal, the route, the provider and the model that served it.
 * Operators bill, rate-limit and alert on these events, so one missing or doubled is a wrong invoice or a missed flood.
 */
import { describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { masterPrincipal } from '../../src/core/principal.ts'
import type { UsageEvent } from '../../src/core/usage.ts'
import { chatResult, createFakeAdapter, createFakeDeps, httpError } from '../helpers/fake-deps.ts'
import type { FakeAdapter, FakeDeps } from '../helpers/fake-deps.ts'

const testKey = 'gh-route-test-key'
const bodyLimitBytes = 2_048

type Setup = {
  deps: FakeDeps
  adapter: FakeAdapter
  request: (path: string, init?: RequestInit) => Promise<Response>
}

const setup = (
  adapter = createFakeAdapter({ id: 'openai', chat: async () => chatResult('hello', 'gpt-4o') })
): Setup => {
  const deps: FakeDeps = {
    ...createFakeDeps({
      adapters: [adapter],
      config: {
        server: { bodyLimitBytes },
        routes: [{ name: 'smart', targets: [{ provider: 'openai', model: 'gpt-4o' }] }],
      },
    }),
    authenticator: { authenticate: async (key) => (key === testKey ? masterPrincipal : null) },
  }
  const app = createApp(deps)
  return { deps, adapter, request: async (path, init) => app.request(path, init) }
}

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

const bearer = { authorization: `Bearer ${testKey}` }
const chatBody = { model: 'smart', messages: [{ role: 'user', content: 'Hi' }] }

/** The one usage event of the request that got `response` (fails when there is none, or more than one). */
const onlyEvent = (deps: FakeDeps, response: Response): UsageEvent => {
  expect(deps.usage.events).toHaveLength(1)
  const [event] = deps.usage.events
  expect(event.requestId).toBe(response.headers.get('x-request-id'))
  return event
}

type Refusal = {
  name: string
  path: string
  init: RequestInit
  status: number
  expected: Partial<UsageEvent>
}

const oversized = JSON.stringify({
  ...chatBody,
  messages: [{ role: 'user', content: 'x'.repeat(bodyLimitBytes) }],
})

const refusals: Refusal[] = [
  {
    name: 'no key on /v1/chat/completions',
    path: '/v1/chat/completions',
    init: json(chatBody),
    status: 401,
    expected: {
      operation: 'chat-completions',
      dialect: 'openai',
      principalId: null,
      tenantId: null,
    },
  },
  {
    name: 'a wrong key on /v1/messages',
    path: '/v1/messages',
    init: json(
      { model: 'smart', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] },
      { 'x-api-key': 'not-the-key' }
    ),
    status: 401,
    expected: { operation: 'messages', dialect: 'anthropic', principalId: null, tenantId: null },
  },
  {
    name: 'no key on GET /v1/models (no operation)',
    path: '/v1/models',
    init: {},
    status: 401,
    expected: { operation: null, principalId: null },
  },
  {
    // The body limit is checked before the key: nothing of an oversized request is trusted, the key included.
    name: 'a content-length over the body limit',
    path: '/v1/chat/completions',
    init: {
      method: 'POST',
      headers: {
        ...bearer,
        'content-type': 'application/json',
        'content-length': String(oversized.length),
      },
      body: oversized,
    },
    status: 413,
    expected: { operation: 'chat-completions', principalId: null },
  },
  {
    name: 'a chat body without messages',
    path: '/v1/chat/completions',
    init: json({ model: 'smart' }, bearer),
    status: 400,
    expected: { operation: 'chat-completions', principalId: 'master', requestedModel: null },
  },
  {
    name: 'a count_tokens body without a model',
    path: '/v1/messages/count_tokens',
    init: json({ messages: [{ role: 'user', content: 'Hi' }] }, bearer),
    status: 400,
    expected: { operation: 'count-tokens', dialect: 'anthropic', principalId: 'master' },
  },
  {
    name: 'an unknown endpoint',
    path: '/v1/nothing-here',
    init: json(chatBody, bearer),
    status: 404,
    expected: { operation: null, principalId: 'master' },
  },
]

describe('a /v1 request refused before routing', () => {
  it.each(refusals)(
    'records one refused event for $name',
    async ({ path, init, status, expected }) => {
      const { deps, adapter, request } = setup()
      const response = await request(path, init)
      expect(response.status).toBe(status)
      expect(onlyEvent(deps, response)).toMatchObject({
        ...expected,
        status,
        refused: true,
        route: null,
        provider: null,
        model: null,
        usage: null,
        attempts: 0,
        // Nothing went upstream: it cost nothing, which is known (not a request of unknown price).
        costMicroUsd: 0,
        error: expect.any(String),
      })
      expect(adapter.calls).toEqual([])
      expect(deps.observer.events).toEqual([])
    }
  )
})

describe('a routed /v1 call', () => {
  it('records one event with the principal, the route alias, the provider and model that served it, and the usage', async () => {
    const { deps, adapter, request } = setup()
    const response = await request('/v1/chat/completions', json(chatBody, bearer))
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ choices: [{ message: { content: 'hello' } }] })
    expect(adapter.calls.map((call) => call.method)).toEqual(['chat'])
    expect(onlyEvent(deps, response)).toMatchObject({
      refused: false,
      operation: 'chat-completions',
      dialect: 'openai',
      requestedModel: 'smart',
      route: 'smart',
      principalId: 'master',
      tenantId: null,
      provider: 'openai',
      model: 'gpt-4o',
      status: 200,
      attempts: 1,
      usage: { inputTokens: 3, outputTokens: 1 },
      error: null,
    })
  })

  it('records no route for a provider-prefixed model, which no alias resolved', async () => {
    const { deps, request } = setup()
    const response = await request(
      '/v1/chat/completions',
      json({ ...chatBody, model: 'openai/gpt-4o' }, bearer)
    )
    await response.arrayBuffer()
    expect(onlyEvent(deps, response)).toMatchObject({
      refused: false,
      route: null,
      provider: 'openai',
      requestedModel: 'openai/gpt-4o',
    })
  })

  it('shows the attempt to the observer, started then ended with success, under the request id', async () => {
    const { deps, request } = setup()
    const response = await request('/v1/chat/completions', json(chatBody, bearer))
    await response.arrayBuffer()
    const requestId = response.headers.get('x-request-id')
    const attempt = {
      requestId,
      operation: 'chat-completions',
      provider: 'openai',
      model: 'gpt-4o',
      attempt: 1,
    }
    expect(deps.observer.events).toEqual([
      { type: 'attempt-started', forwarded: false, ...attempt },
      expect.objectContaining({ type: 'attempt-ended', outcome: 'success', ...attempt }),
    ])
  })

  it('records a failed token count as costing nothing: counting is free', async () => {
    const adapter = createFakeAdapter({
      id: 'anthropic',
      dialect: 'anthropic',
      forward: () => Promise.reject(httpError(400)),
    })
    const { deps, request } = setup(adapter)
    const response = await request(
      '/v1/messages/count_tokens',
      json(
        { model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content: 'Hi' }] },
        { ...bearer, 'anthropic-version': '2023-06-01' }
      )
    )
    expect(response.status).toBe(400)
    expect(onlyEvent(deps, response)).toMatchObject({
      operation: 'count-tokens',
      status: 400,
      attempts: 1,
      costMicroUsd: 0,
    })
  })

  it('records an upstream refusal as a routed call, not a refused one: the request did reach a provider', async () => {
    const adapter = createFakeAdapter({ id: 'openai', chat: () => Promise.reject(httpError(400)) })
    const { deps, request } = setup(adapter)
    const response = await request('/v1/chat/completions', json(chatBody, bearer))
    expect(response.status).toBe(400)
    expect(onlyEvent(deps, response)).toMatchObject({
      refused: false,
      route: 'smart',
      principalId: 'master',
      status: 400,
      attempts: 1,
      usage: null,
    })
    expect(deps.observer.events.map((event) => event.type)).toEqual([
      'attempt-started',
      'attempt-ended',
    ])
  })
})
