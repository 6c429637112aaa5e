/**
 * The checks a model route makes of its body before anything else (`open-json-route.ts`), through the whole app over
 * a fake provider: 415 for a body that is not JSON, 400 for malformed JSON, for a body the schema refuses and for one
 * nested too deep, each in the dialect of the route, and none of them reaching the provider. A JSON body with a
 * charset or a `+json` type passes. The OpenAPI document still describes each route's body. The routes are served
 * directly (`direct-routes.ts`), and still in the order the middleware chain gave: a body over the limit is a 413
 * before the key is looked at, a missing key a 401 before the body is read, and every answer has its request id.
 */
import { describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { masterPrincipal } from '../../src/core/principal.ts'
import { chatResult, createFakeAdapter, createFakeDeps } from '../helpers/fake-deps.ts'

const key = 'test-master-key'

const setup = () => {
  const openai = createFakeAdapter({
    id: 'openai',
    chat: async () => chatResult('hello', 'gpt-4o-mini'),
  })
  const deps = createFakeDeps({
    adapters: [openai],
    authenticator: { authenticate: (presented) => (presented === key ? masterPrincipal : null) },
    config: { providers: { openai: { models: ['gpt-4o-mini'], discoverModels: false } } },
  })
  return { app: createApp(deps), openai, usage: deps.usage }
}

const chatBody = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'hi' }],
})
const messagesBody = JSON.stringify({
  model: 'gpt-4o-mini',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
})

const routes = [
  { path: '/v1/chat/completions', dialect: 'openai', body: chatBody },
  { path: '/v1/messages', dialect: 'anthropic', body: messagesBody },
  { path: '/v1/messages/count_tokens', dialect: 'anthropic', body: messagesBody },
  { path: '/v1/embeddings', dialect: 'openai', body: JSON.stringify({ model: 'x', input: 'hi' }) },
  { path: '/v1/responses', dialect: 'openai', body: JSON.stringify({ model: 'x', input: 'hi' }) },
] as const

const send = (
  app: ReturnType<typeof createApp>,
  path: string,
  body: string | undefined,
  contentType: string | undefined
) =>
  app.request(path, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      ...(contentType === undefined ? {} : { 'content-type': contentType }),
    },
    body,
  })

/** The error's message and type, in either dialect's error shape. */
const errorOf = async (
  response: Response,
  dialect: 'openai' | 'anthropic'
): Promise<{ message: string; type: string }> => {
  const json = (await response.json()) as {
    type?: string
    error: { message: string; type: string }
  }
  if (dialect === 'anthropic') expect(json.type).toBe('error')
  return json.error
}

describe.each(routes)('$path', ({ path, dialect, body }) => {
  it('refuses a body that is not JSON with 415', async () => {
    const { app, openai } = setup()
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await send(app, path, body, contentType)
      expect(response.status, contentType).toBe(415)
      expect((await errorOf(response, dialect)).message).toMatch(/must be JSON/)
    }
    // No content type, but bytes: refused too; no content type and no bytes: the schema's 400.
    expect((await send(app, path, body, undefined)).status).toBe(415)
    expect((await send(app, path, undefined, undefined)).status).toBe(400)
    expect(openai.calls).toHaveLength(0)
  })

  it('answers 400 in its dialect for malformed JSON, a refused body and one nested too deep', async () => {
    const { app, openai } = setup()
    const malformed = await send(app, path, '{"model": ', 'application/json')
    expect(malformed.status).toBe(400)
    expect((await errorOf(malformed, dialect)).message).toMatch(/Malformed JSON/)

    const refused = await send(app, path, JSON.stringify({ model: 7 }), 'application/json')
    expect(refused.status).toBe(400)
    const refusal = await errorOf(refused, dialect)
    expect(refusal.message).toMatch(/^Invalid request body: /)
    expect(refusal.type).toBe('invalid_request_error')

    const deep = JSON.parse(body) as Record<string, unknown>
    let nested: unknown = 'x'
    for (let level = 0; level < 200; level += 1) nested = { nested }
    deep.metadata = { deep: nested }
    const tooDeep = await send(app, path, JSON.stringify(deep), 'application/json')
    expect(tooDeep.status).toBe(400)
    expect((await errorOf(tooDeep, dialect)).message).toMatch(/deeper than the gateway accepts/)
    expect(openai.calls).toHaveLength(0)
  })
})

describe.each(routes)('$path, before its body is read', ({ path, dialect }) => {
  it('refuses a body over the limit with 413 before the key, and a missing key with 401 before the body', async () => {
    const { app, openai } = setup()
    const tooLarge = await app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) },
      body: '{',
    })
    expect(tooLarge.status).toBe(413)
    expect((await errorOf(tooLarge, dialect)).message).toMatch(/larger than/)

    const noKey = await app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-no-key' },
      body: '{"model": ',
    })
    expect(noKey.status).toBe(401)
    expect((await errorOf(noKey, dialect)).message).toMatch(/Missing API key/)
    expect(noKey.headers.get('x-request-id')).toBe('req-no-key')
    expect(noKey.headers.get('request-id')).toBe(dialect === 'anthropic' ? 'req-no-key' : null)
    expect(openai.calls).toHaveLength(0)
  })

  it('is served directly, with no middleware around it, and hands other methods to the API app', async () => {
    const { app } = setup()
    expect(app.routes.filter((route) => route.path === path).map((route) => route.method)).toEqual([
      'POST',
    ])
    const get = await app.request(path, { headers: { authorization: `Bearer ${key}` } })
    expect(get.status).toBe(404)
    expect(get.headers.get('x-request-id')).toMatch(/^req_/)
  })
})

describe('the app in front', () => {
  it('serves the model routes and nothing else itself: no middleware, no other path', () => {
    const { app } = setup()
    expect(app.routes.map((route) => `${route.method} ${route.path}`).sort()).toEqual(
      routes.map(({ path }) => `POST ${path}`).sort()
    )
  })
})

describe('JSON bodies that pass', () => {
  it('takes a charset parameter and a +json media type, and answers', async () => {
    const { app, openai } = setup()
    for (const contentType of [
      'application/json; charset=utf-8',
      'Application/JSON',
      'application/vnd.gatehouse+json',
    ]) {
      const response = await send(app, '/v1/chat/completions', chatBody, contentType)
      expect(response.status, contentType).toBe(200)
      expect(((await response.json()) as { object: string }).object).toBe('chat.completion')
    }
    expect(openai.calls).toHaveLength(3)
  })

  it('is still described in the OpenAPI document, body schema and all', async () => {
    const { app } = setup()
    const document = (await (await app.request('/openapi.json')).json()) as {
      paths: Record<string, { post?: { requestBody?: { content: Record<string, unknown> } } }>
    }
    for (const { path } of routes)
      expect(Object.keys(document.paths[path]?.post?.requestBody?.content ?? {}), path).toEqual([
        'application/json',
      ])
  })
})
