import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { rememberSecrets } from '../../providers/shared/redact-secrets.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { createRecordingLogger } from '../../test/helpers/fake-deps.ts'
import { GatewayError } from '../core/errors.ts'
import { mapProviderError } from '../core/map-provider-error.ts'
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

/** What the executor throws for an upstream's HTTP error: the error `mapProviderError` made of it. */
const upstreamFailure = (options: {
  status: number
  type?: string | null
  message?: string
  details?: Record<string, unknown> | null
  dialect?: 'openai' | 'anthropic' | null
}): GatewayError =>
  mapProviderError(
    new ProviderError({
      kind: 'http',
      status: options.status,
      message: options.message ?? 'Something went wrong.',
      type: options.type ?? null,
      details: options.details ?? null,
      dialect: options.dialect === undefined ? 'anthropic' : options.dialect,
      providerId: 'claude',
    }),
    { attempts: 3 }
  )

const send = async (error: unknown, path: '/v1/messages' | '/v1/chat/completions') => {
  const response = await appThatThrows(error).app.request(path, { method: 'POST' })
  return { response, body: (await response.json()) as Record<string, unknown> }
}

describe('onError: an Anthropic upstream error for an Anthropic client', () => {
  it("passes on the upstream's error.type and details (which the SDK reads as errorCode), secrets masked", async () => {
    const secret = 'provider-secret-on-error-4242'
    rememberSecrets([secret])
    const compaction = await send(
      upstreamFailure({
        status: 400,
        type: 'invalid_request_error',
        message: 'The compaction signature is invalid.',
        details: { error_code: 'compaction_signature_invalid', hint: `key ${secret}` },
      }),
      '/v1/messages'
    )
    expect(compaction.response.status).toBe(400)
    expect(compaction.body).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'The compaction signature is invalid.',
        details: { error_code: 'compaction_signature_invalid', hint: 'key [redacted]' },
      },
      request_id: 'req_1',
    })

    const spend = await send(
      upstreamFailure({
        status: 429,
        type: 'rate_limit_error',
        details: { error_code: 'enforced_spend_limit_reached' },
      }),
      '/v1/messages'
    )
    expect(spend.response.status).toBe(429)
    expect(spend.body.error).toMatchObject({
      type: 'rate_limit_error',
      details: { error_code: 'enforced_spend_limit_reached' },
    })

    const conflict = await send(
      upstreamFailure({ status: 409, type: 'conflict_error' }),
      '/v1/messages'
    )
    expect(conflict.response.status).toBe(409)
    expect(conflict.body.error).toEqual({
      type: 'conflict_error',
      message: 'Something went wrong.',
    })
  })

  it('keeps a 529 overloaded_error and a 504 timeout_error, with x-should-retry: false; other 5xx are a 502 of their type', async () => {
    const overloaded = await send(
      upstreamFailure({ status: 529, type: 'overloaded_error', message: 'Overloaded' }),
      '/v1/messages'
    )
    expect(overloaded.response.status).toBe(529)
    expect(overloaded.response.headers.get('x-should-retry')).toBe('false')
    expect(overloaded.body.error).toEqual({
      type: 'overloaded_error',
      message: 'Provider "claude" failed with HTTP 529: Overloaded',
    })

    const timeout = await send(
      upstreamFailure({ status: 504, type: 'timeout_error' }),
      '/v1/messages'
    )
    expect(timeout.response.status).toBe(504)
    expect(timeout.body.error).toMatchObject({ type: 'timeout_error' })

    // A 529 page the adapter could not read: the status still says overloaded.
    const unread = await send(upstreamFailure({ status: 529, type: null }), '/v1/messages')
    expect(unread.response.status).toBe(529)
    expect(unread.body.error).toMatchObject({ type: 'overloaded_error' })

    const internal = await send(upstreamFailure({ status: 500, type: 'api_error' }), '/v1/messages')
    expect(internal.response.status).toBe(502)
    expect(internal.body.error).toMatchObject({ type: 'api_error' })
  })

  it("does not pass on an upstream 401/403's type: the gateway's credentials were refused, not the client's", async () => {
    const refused = await send(
      upstreamFailure({
        status: 401,
        type: 'authentication_error',
        details: { error_code: 'invalid_key' },
      }),
      '/v1/messages'
    )
    expect(refused.response.status).toBe(502)
    expect(refused.body.error).toEqual({
      type: 'api_error',
      message: 'The upstream provider "claude" rejected the gateway\'s credentials.',
    })
  })

  it("gives an OpenAI client of the same upstream today's OpenAI error: a 502 server_error for a 529, no details", async () => {
    const overloaded = await send(
      upstreamFailure({ status: 529, type: 'overloaded_error', message: 'Overloaded' }),
      '/v1/chat/completions'
    )
    expect(overloaded.response.status).toBe(502)
    expect(overloaded.response.headers.get('x-should-retry')).toBe('false')
    expect(overloaded.body).toEqual({
      error: {
        message: 'Provider "claude" failed with HTTP 529: Overloaded',
        type: 'server_error',
        param: null,
        code: 'upstream_error',
      },
    })
    const timeout = await send(
      upstreamFailure({ status: 504, type: 'timeout_error' }),
      '/v1/chat/completions'
    )
    expect(timeout.response.status).toBe(502)
    const spend = await send(
      upstreamFailure({
        status: 429,
        type: 'rate_limit_error',
        details: { error_code: 'enforced_spend_limit_reached' },
      }),
      '/v1/chat/completions'
    )
    expect(spend.body).toEqual({
      error: {
        message: 'Something went wrong.',
        type: 'rate_limit_error',
        param: null,
        code: 'rate_limit_exceeded',
      },
    })
  })

  it("leaves an OpenAI-compatible upstream's error to the Anthropic client as before: type by status, 502 for a 504", async () => {
    const timeout = await send(
      upstreamFailure({ status: 504, type: 'server_error', dialect: null }),
      '/v1/messages'
    )
    expect(timeout.response.status).toBe(502)
    expect(timeout.body.error).toMatchObject({ type: 'api_error' })
    const conflict = await send(
      upstreamFailure({ status: 409, type: 'conflict', dialect: 'openai' }),
      '/v1/messages'
    )
    expect(conflict.response.status).toBe(409)
    expect(conflict.body.error).toEqual({
      type: 'invalid_request_error',
      message: 'Something went wrong.',
    })
  })
})
