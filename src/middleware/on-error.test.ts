import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { createRecordingLogger } from '../../test/helpers/fake-deps.ts'
import { GatewayError } from '../core/errors.ts'
import type { GatewayEnv } from './gateway-env.ts'
import { onError } from './on-error.ts'

const appThatThrows = (error: unknown) => {
  const logger = createRecordingLogger()
  const app = new Hono<GatewayEnv>()
  app.onError(onError(logger))
  app.use('*', async (c, next) => {
    c.set('requestId', 'req_1')
    await next()
  })
  app.post('/v1/chat/completions', () => {
    throw error
  })
  app.post('/v1/messages', () => {
    throw error
  })
  return { app, logger }
}

describe('onError', () => {
  it('answers an unexpected error with a 500 in the client dialect, logs the stack, and sends neither stack nor message', async () => {
    const secretish = new Error('database password is hunter2')
    const { app, logger } = appThatThrows(secretish)
    const response = await app.request('/v1/chat/completions', { method: 'POST' })
    expect(response.status).toBe(500)
    expect(response.headers.get('x-request-id')).toBe('req_1')
    const text = await response.text()
    expect(JSON.parse(text)).toEqual({
      error: {
        message: 'The gateway hit an internal error. It has been logged with the request id.',
        type: 'server_error',
        param: null,
        code: null,
      },
    })
    expect(text).not.toContain('hunter2')
    expect(text).not.toContain('at ')
    const line = logger.lines.find((entry) => entry.message === 'request failed')
    expect(line?.level).toBe('error')
    expect(String(line?.fields.stack)).toContain('on-error.test.ts')

    const anthropic = await appThatThrows(secretish).app.request('/v1/messages', { method: 'POST' })
    expect(anthropic.status).toBe(500)
    expect(await anthropic.json()).toEqual({
      type: 'error',
      error: {
        type: 'api_error',
        message: 'The gateway hit an internal error. It has been logged with the request id.',
      },
      request_id: 'req_1',
    })
  })

  it("logs what is behind the gateway's own 503 (a store's failure), without a stack, and sends only the message", async () => {
    const { app, logger } = appThatThrows(
      new GatewayError('unavailable', 'The key store is unavailable.', {
        status: 503,
        cause: new Error('role "gatehouse" is not permitted to log in'),
      })
    )
    const response = await app.request('/v1/chat/completions', { method: 'POST' })
    expect(response.status).toBe(503)
    expect(await response.text()).not.toContain('permitted')
    const line = logger.lines.find((entry) => entry.message === 'request failed')
    expect(line?.fields).toMatchObject({
      error: 'The key store is unavailable.',
      cause: 'role "gatehouse" is not permitted to log in',
      stack: undefined,
    })
  })

  it("answers a database that cannot be reached with a 503 to retry, not an internal error, and logs the driver's words", async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    })
    const { app, logger } = appThatThrows(refused)
    const response = await app.request('/v1/messages', { method: 'POST' })
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(await response.json()).toMatchObject({
      error: { type: 'api_error', message: 'The database is unavailable. Retry shortly.' },
    })
    expect(logger.lines.find((entry) => entry.message === 'request failed')?.fields).toMatchObject({
      cause: 'connect ECONNREFUSED 127.0.0.1:5432',
      stack: undefined,
    })
  })

  it('sends a GatewayError as it is, logged at info for a 4xx', async () => {
    const { app, logger } = appThatThrows(
      new GatewayError('invalid_request', 'Bad field.', { param: 'messages' })
    )
    const response = await app.request('/v1/chat/completions', { method: 'POST' })
    expect(response.status).toBe(400)
    expect(await response.json()).toEqual({
      error: {
        message: 'Bad field.',
        type: 'invalid_request_error',
        param: 'messages',
        code: null,
      },
    })
    expect(logger.lines.map((line) => line.level)).toEqual(['info'])
  })
})
