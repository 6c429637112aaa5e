import { OpenAPIHono } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import { describe, expect, it } from 'vitest'
import { systemClock } from '../core/clock.ts'
import type { GatewayEnv } from '../middleware/gateway-env.ts'
import { finishRequestContext, takeRequestIdHeaders } from '../middleware/request-context.ts'
import { createDirectRoutes } from './direct-routes.ts'

/** An API app that answers whatever reaches it with what it was given, so a hand-over can be seen. */
const createApi = () => {
  const api = new OpenAPIHono<GatewayEnv>()
  api.all('*', (c) => {
    let executionContext: unknown = null
    try {
      executionContext = c.executionCtx
    } catch {
      // None given.
    }
    return c.json({
      api: true,
      method: c.req.method,
      path: c.req.path,
      env: c.env ?? null,
      hasExecutionContext: executionContext !== null,
    })
  })
  return api
}

const refusal = new Error('refused')

/** `admit` as `admitRequest` behaves: refuses at once, or hands `next`'s promise back (or waits for it first). */
const admitting = (
  mode: 'pass' | 'refuse' | 'wait',
  seen: string[]
): MiddlewareHandler<GatewayEnv> =>
  ((c, next) => {
    seen.push(`admit ${c.get('requestId') === undefined ? 'without' : 'with'} a request id`)
    if (mode === 'refuse') throw refusal
    if (mode === 'pass') return next()
    return Promise.resolve().then(async () => {
      await next()
    })
  }) as MiddlewareHandler<GatewayEnv>

const setup = (mode: 'pass' | 'refuse' | 'wait') => {
  const seen: string[] = []
  const direct = createDirectRoutes({
    api: createApi(),
    clock: systemClock,
    admit: admitting(mode, seen),
    onError: (error, c) =>
      c.json({ error: error.message, requestId: c.get('requestId') ?? null }, 418),
  })
  return { direct, seen }
}

describe('createDirectRoutes', () => {
  it('serves a route with one handler and nothing around it, so Hono calls the handler directly', () => {
    const { direct } = setup('pass')
    direct.routes.add('POST', '/v1/chat/completions', async (c) => c.text('hi'))
    direct.routes.add('POST', '/v1/messages', async (c) => c.text('hi'))
    expect(direct.app.routes.map((route) => `${route.method} ${route.path}`)).toEqual([
      'POST /v1/chat/completions',
      'POST /v1/messages',
    ])
  })

  it('sets the request context, admits, then runs the handler, whose answer carries the request id', async () => {
    const { direct, seen } = setup('pass')
    direct.routes.add('POST', '/v1/messages', async (c) => {
      seen.push(`handler for ${c.get('dialect')}`)
      return finishRequestContext(c, c.text('hi'))
    })
    const response = await direct.app.request('/v1/messages', {
      method: 'POST',
      headers: { 'x-request-id': 'req-given-1' },
    })
    expect(await response.text()).toBe('hi')
    expect(seen).toEqual(['admit with a request id', 'handler for anthropic'])
    expect(response.headers.get('x-request-id')).toBe('req-given-1')
    expect(response.headers.get('request-id')).toBe('req-given-1')
  })

  it('leaves the headers of a handler that set them itself alone', async () => {
    const { direct } = setup('pass')
    direct.routes.add('POST', '/v1/chat/completions', async (c) =>
      c.body('{}', 200, { ...takeRequestIdHeaders(c), 'x-own': 'yes' })
    )
    const response = await direct.app.request('/v1/chat/completions', { method: 'POST' })
    expect(response.headers.get('x-own')).toBe('yes')
    expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/)
    expect(response.headers.get('request-id')).toBeNull()
  })

  it("hands the handler's answer on as it is, with nothing added after it", async () => {
    const { direct } = setup('pass')
    const answer = new Response('as is')
    direct.routes.add('POST', '/v1/chat/completions', async () => answer)
    const response = await direct.app.request('/v1/chat/completions', { method: 'POST' })
    expect(response).toBe(answer)
    expect(response.headers.get('x-request-id')).toBeNull()
  })

  it('answers when admission waits for the handler instead of handing its promise back (a body without a length)', async () => {
    const { direct } = setup('wait')
    direct.routes.add('POST', '/v1/chat/completions', async (c) =>
      finishRequestContext(c, c.text('late'))
    )
    const response = await direct.app.request('/v1/chat/completions', { method: 'POST' })
    expect(await response.text()).toBe('late')
    expect(response.headers.get('x-request-id')).toMatch(/^req_/)
  })

  it('answers a refusal and a failing handler through onError, with the request context set', async () => {
    const refused = setup('refuse')
    let ran = false
    refused.direct.routes.add('POST', '/v1/chat/completions', async (c) => {
      ran = true
      return c.text('no')
    })
    const response = await refused.direct.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'x-request-id': 'req-2' },
    })
    expect(response.status).toBe(418)
    expect(await response.json()).toEqual({ error: 'refused', requestId: 'req-2' })
    expect(ran).toBe(false)

    const failing = setup('pass')
    failing.direct.routes.add('POST', '/v1/chat/completions', async () => {
      throw new Error('broke')
    })
    const failed = await failing.direct.app.request('/v1/chat/completions', { method: 'POST' })
    expect(failed.status).toBe(418)
    expect(((await failed.json()) as { error: string }).error).toBe('broke')
  })

  it('hands every other path and method to the API app as it came, with its env and execution context', async () => {
    const { direct, seen } = setup('pass')
    direct.routes.add('POST', '/v1/chat/completions', async (c) => c.text('direct'))
    const executionContext = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} }
    const env = { region: 'test' }
    const other = await direct.app.fetch(
      new Request('http://gateway/v1/models', { method: 'GET' }),
      env,
      executionContext
    )
    expect(await other.json()).toEqual({
      api: true,
      method: 'GET',
      path: '/v1/models',
      env,
      hasExecutionContext: true,
    })
    const wrongMethod = await direct.app.request('/v1/chat/completions', { method: 'GET' })
    expect(await wrongMethod.json()).toMatchObject({
      api: true,
      method: 'GET',
      hasExecutionContext: false,
    })
    const head = await direct.app.request('/v1/models', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    expect(seen).toEqual([])
  })
})
