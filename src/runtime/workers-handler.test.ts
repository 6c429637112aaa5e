import type { ExecutionContext } from 'hono'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  MOCK_OPENAI_API_KEY,
  startMockOpenAIUpstream,
} from '../../test/helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../../test/helpers/mock-upstream-server.ts'
import type { AssetsBinding } from './workers-assets.ts'
import type { WorkersEnv } from './workers-deps.ts'
import { createWorkersHandler } from './workers-handler.ts'

const masterKey = 'test-master-key'
const origin = 'https://gatehouse.example.workers.dev'
const ctx: ExecutionContext = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} }

let upstream: MockUpstream
beforeAll(async () => {
  upstream = await startMockOpenAIUpstream()
})
afterAll(async () => {
  await upstream.close()
})
beforeEach(() => {
  for (const method of ['log', 'warn', 'error'] as const)
    vi.spyOn(console, method).mockImplementation(() => {})
})
afterEach(() => {
  vi.restoreAllMocks()
})

const baseEnv = (): WorkersEnv => ({
  OPENAI_BASE_URL: upstream.baseUrl,
  OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
  GATEHOUSE_MASTER_KEY: masterKey,
})

const chatRequest = (key: string | null, path = '/v1/chat/completions'): Request =>
  new Request(`${origin}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === null
        ? {}
        : path.startsWith('/v1/messages')
          ? { 'x-api-key': key, 'anthropic-version': '2023-06-01' }
          : { authorization: `Bearer ${key}` }),
    },
    body: JSON.stringify(
      path.startsWith('/v1/messages')
        ? { model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }
        : { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }
    ),
  })

const consoleLines = (spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] =>
  spy.mock.calls.map((call) => JSON.parse(String(call[0])) as Record<string, unknown>)

describe('createWorkersHandler', () => {
  it('serves a chat completion and hands the usage write to waitUntil', async () => {
    const log = vi.mocked(console.log)
    const deferred: Promise<unknown>[] = []
    const handler = createWorkersHandler({ waitUntil: (promise) => deferred.push(promise) })
    const response = await handler.fetch(chatRequest(masterKey), baseEnv(), ctx)
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gatehouse-provider')).toBe('openai')
    const body = (await response.json()) as { choices: { message: { content: string } }[] }
    expect(body.choices[0].message.content).toBe('echo: Hi')
    expect(deferred.length).toBeGreaterThan(0)
    await Promise.all(deferred)
    const usage = consoleLines(log).find((line) => line.msg === 'usage')
    expect(usage).toMatchObject({
      provider: 'openai',
      requestId: response.headers.get('x-request-id'),
    })
    expect(JSON.stringify(consoleLines(log))).not.toContain(MOCK_OPENAI_API_KEY)
  })

  it('answers 503 in the client dialect, never reaching the upstream, when GATEHOUSE_MASTER_KEY is not set', async () => {
    const handler = createWorkersHandler({ waitUntil: () => {} })
    const env = { ...baseEnv(), GATEHOUSE_MASTER_KEY: undefined }
    const before = upstream.requests.length

    const openAI = await handler.fetch(chatRequest('anything'), env, ctx)
    expect(openAI.status).toBe(503)
    expect(openAI.headers.get('x-should-retry')).toBe('false')
    expect(await openAI.json()).toMatchObject({
      error: {
        type: 'server_error',
        code: 'service_unavailable',
        message: expect.stringContaining('GATEHOUSE_MASTER_KEY'),
      },
    })

    const anthropic = await handler.fetch(chatRequest('anything', '/v1/messages'), env, ctx)
    expect(anthropic.status).toBe(503)
    expect(await anthropic.json()).toMatchObject({
      type: 'error',
      error: { message: expect.stringContaining('GATEHOUSE_MASTER_KEY') },
    })
    expect(upstream.requests.length).toBe(before)
    // Not ready either: a balancer polling /readyz takes it out rather than sending it calls it refuses.
    const ready = await handler.fetch(new Request('http://gateway/readyz'), env, ctx)
    expect(ready.status).toBe(503)
    expect(await ready.json()).toMatchObject({ status: 'GATEHOUSE_MASTER_KEY is not set' })
  })

  it('answers 503 to every request when the config is invalid, logging the problems without leaking them', async () => {
    const errors = vi.mocked(console.error)
    const handler = createWorkersHandler({ waitUntil: () => {} })
    const env = {
      ...baseEnv(),
      GATEHOUSE_CONFIG_YAML: 'retry:\n  maxRetries: lots\nbogusOption: 1\n',
    }

    for (const request of [
      new Request(`${origin}/healthz`),
      chatRequest(masterKey),
      chatRequest(masterKey, '/v1/messages'),
    ]) {
      const response = await handler.fetch(request, env, ctx)
      expect(response.status).toBe(503)
      expect(response.headers.get('x-should-retry')).toBe('false')
      const text = await response.text()
      expect(text).toContain('configuration is invalid')
      expect(text).not.toContain('bogusOption')
      expect(text).not.toContain('maxRetries')
    }
    const anthropic = await handler.fetch(chatRequest(masterKey, '/v1/messages'), env, ctx)
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'api_error' } })

    const logged = consoleLines(errors)
    expect(logged.length).toBeGreaterThan(0)
    const problems = logged[0].problems as string[]
    expect(problems).toContain('bogusOption: unknown option')
    expect(problems.some((problem) => problem.startsWith('retry.maxRetries:'))).toBe(true)
    expect(JSON.stringify(logged)).not.toContain(MOCK_OPENAI_API_KEY)
    expect(JSON.stringify(logged)).not.toContain(masterKey)
  })

  it('rejects an unknown LOG_LEVEL instead of guessing one', async () => {
    const errors = vi.mocked(console.error)
    const handler = createWorkersHandler({ waitUntil: () => {} })
    const response = await handler.fetch(
      new Request(`${origin}/healthz`),
      { ...baseEnv(), LOG_LEVEL: 'verbose' },
      ctx
    )
    expect(response.status).toBe(503)
    expect(consoleLines(errors)[0].problems).toEqual([
      expect.stringMatching(
        /^env.LOG_LEVEL: expected one of debug, info, warn, error.*got "verbose"$/
      ),
    ])
  })

  it('serves a config that has a local provider without it: routes, fallbacks and the model list skip it', async () => {
    const warn = vi.mocked(console.warn)
    const handler = createWorkersHandler({ waitUntil: () => {} })
    const env = {
      ...baseEnv(),
      GATEHOUSE_CONFIG_YAML: [
        'providers:',
        '  local: { type: local }',
        'routes:',
        '  - name: main',
        '    targets:',
        '      - { provider: local, model: gatehouse-tiny }',
        '      - { provider: openai, model: gpt-4o-mini }',
        '    shortRequests: { provider: local, model: gatehouse-tiny, maxInputTokens: 200, maxOutputTokens: 64 }',
        'fallbacks:',
        '  - { provider: local, model: gatehouse-tiny }',
      ].join('\n'),
    }
    const ask = (model: string) =>
      handler.fetch(
        new Request(`${origin}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${masterKey}` },
          body: JSON.stringify({
            model,
            max_tokens: 8,
            messages: [{ role: 'user', content: 'Hi' }],
          }),
        }),
        env,
        ctx
      )
    for (const model of ['main', 'gpt-4o-mini']) {
      const response = await ask(model)
      expect(response.status).toBe(200)
      expect(response.headers.get('x-gatehouse-provider')).toBe('openai')
      expect(response.headers.get('x-gatehouse-attempts')).toBe('1')
    }
    const local = await ask('local/gatehouse-tiny')
    expect(local.status).toBe(404)
    expect(await local.json()).toMatchObject({
      error: {
        code: 'model_not_found',
        message:
          'The model `local/gatehouse-tiny` cannot be served here: provider `local` (type local) does not run in this runtime.',
      },
    })
    const models = await handler.fetch(
      new Request(`${origin}/v1/models`, { headers: { authorization: `Bearer ${masterKey}` } }),
      env,
      ctx
    )
    const ids = ((await models.json()) as { data: { id: string }[] }).data.map((model) => model.id)
    expect(ids.length).toBeGreaterThan(0)
    expect(ids.filter((id) => id.startsWith('local/'))).toEqual([])
    const ready = await handler.fetch(new Request(`${origin}/readyz`), env, ctx)
    expect(await ready.json()).toEqual({ status: 'ready', providers: ['openai'] })
    expect(consoleLines(warn)).toContainEqual(
      expect.objectContaining({
        msg: 'provider left out: its type runs on Node only; routes and fallbacks skip it here',
        provider: 'local',
      })
    )
  })

  it('reads the configuration once per isolate: later bindings do not rebuild it', async () => {
    const handler = createWorkersHandler({ waitUntil: () => {} })
    expect((await handler.fetch(chatRequest(masterKey), baseEnv(), ctx)).status).toBe(200)
    const changed = { ...baseEnv(), GATEHOUSE_MASTER_KEY: 'another-master-key' }
    expect((await handler.fetch(chatRequest('another-master-key'), changed, ctx)).status).toBe(401)
    expect((await handler.fetch(chatRequest(masterKey), changed, ctx)).status).toBe(200)
  })

  it('serves the docs assets through the ASSETS binding, and 404s what it does not have', async () => {
    const asked: string[] = []
    const assets: AssetsBinding = {
      fetch: async (request) => {
        const path = new URL(request.url).pathname
        asked.push(path)
        if (path === '/swagger-ui.css')
          return new Response('.swagger-ui{}', { headers: { 'content-type': 'text/css' } })
        return new Response('Not Found', { status: 404 })
      },
    }
    const handler = createWorkersHandler({ waitUntil: () => {} })
    const css = await handler.fetch(
      new Request(`${origin}/docs/assets/swagger-ui.css`),
      { ...baseEnv(), ASSETS: assets },
      ctx
    )
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toBe('text/css')
    expect(css.headers.get('x-request-id')).toMatch(/^req_/)
    expect(await css.text()).toBe('.swagger-ui{}')
    const missing = await handler.fetch(
      new Request(`${origin}/docs/assets/swagger-ui-bundle.js`),
      { ...baseEnv(), ASSETS: assets },
      ctx
    )
    expect(missing.status).toBe(404)
    expect(asked).toEqual(['/swagger-ui.css', '/swagger-ui-bundle.js'])
  })

  it('404s the docs assets when the Worker has no assets binding', async () => {
    const handler = createWorkersHandler({ waitUntil: () => {} })
    const response = await handler.fetch(
      new Request(`${origin}/docs/assets/swagger-ui.css`),
      baseEnv(),
      ctx
    )
    expect(response.status).toBe(404)
  })
})
