import { describe, it, expect } from 'vitest'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { httpError } from '../../test/helpers/fake-deps.ts'
import { GatewayError } from './errors.ts'
import { mapProviderError } from './map-provider-error.ts'
import { anthropicStreamError } from '../../providers/anthropic/anthropic-error.ts'
import { createInBandError } from '../../providers/openai/read-openai-error.ts'
import { inBandFailure } from '../../providers/shared/sse-stream-failures.ts'
import { rememberSecrets } from '../../providers/shared/redact-secrets.ts'

const map = (error: ProviderError, attempts = 3) => mapProviderError(error, { attempts })

describe('mapProviderError', () => {
  it("keeps an upstream 4xx's status, message, code and param", () => {
    const error = map(
      httpError(400, {
        message: "This model's maximum context length is 128000 tokens.",
        type: 'invalid_request_error',
        code: 'context_length_exceeded',
        param: 'messages',
        providerId: 'openai',
      })
    )
    expect(error).toBeInstanceOf(GatewayError)
    expect(error).toMatchObject({
      status: 400,
      code: 'invalid_request',
      message: "This model's maximum context length is 128000 tokens.",
      openaiCode: 'context_length_exceeded',
      param: 'messages',
    })
    expect(map(httpError(404, { code: 'model_not_found' }))).toMatchObject({
      status: 404,
      code: 'not_found',
      openaiCode: 'model_not_found',
    })
    expect(map(httpError(422))).toMatchObject({ status: 422, code: 'invalid_request' })
  })

  it("keeps an Anthropic upstream's 529 and 504 for an Anthropic client only, so that its usage record says so too", () => {
    const overloaded = httpError(529, { type: 'overloaded_error', dialect: 'anthropic' })
    const timedOut = httpError(504, { type: 'timeout_error', dialect: 'anthropic' })
    const anthropic = { attempts: 3, clientDialect: 'anthropic' } as const
    expect(mapProviderError(overloaded, anthropic).status).toBe(529)
    expect(mapProviderError(timedOut, anthropic).status).toBe(504)
    expect(mapProviderError(httpError(500, { dialect: 'anthropic' }), anthropic).status).toBe(502)
    expect(mapProviderError(overloaded, { attempts: 3, clientDialect: 'openai' }).status).toBe(502)
    expect(mapProviderError(overloaded, { attempts: 3 }).status).toBe(502)
    // An OpenAI-compatible server's 529 is no Anthropic overload.
    expect(mapProviderError(httpError(529, { dialect: 'openai' }), anthropic).status).toBe(502)
  })

  it("masks the gateway's credentials in the provider's rate-limit headers it passes on, as on an answered call", () => {
    const secret = 'map-error-test-provider-key-5150'
    rememberSecrets([secret])
    const error = httpError(429, {
      type: 'rate_limit_error',
      headers: new Headers({
        'anthropic-ratelimit-requests-limit': secret,
        'x-ratelimit-remaining-requests': '7',
      }),
    })
    const mapped = mapProviderError(error, { attempts: 1 })
    expect(mapped.providerRateLimitHeaders).toEqual({
      'anthropic-ratelimit-requests-limit': '[redacted]',
      'x-ratelimit-remaining-requests': '7',
    })
  })

  it('tells the client not to retry and how many attempts were made, on every error', () => {
    const errors = [
      httpError(400),
      httpError(401),
      httpError(429),
      httpError(503),
      new ProviderError({ kind: 'connection', status: 502, message: 'x' }),
      new ProviderError({ kind: 'timeout', status: 504, message: 'x' }),
      new ProviderError({ kind: 'aborted', status: 499, message: 'x' }),
    ]
    for (const error of errors) {
      expect(map(error, 4).headers).toMatchObject({
        'x-should-retry': 'false',
        'x-gatehouse-attempts': '4',
      })
    }
  })

  it("turns an upstream 401/403 into a 502 that blames the gateway's credentials, without the upstream text", () => {
    for (const status of [401, 403]) {
      const error = map(
        httpError(status, {
          message: 'Incorrect API key provided: sk-abc***xyz',
          providerId: 'openai',
        })
      )
      expect(error.status).toBe(502)
      expect(error.message).toContain("rejected the gateway's credentials")
      expect(error.message).not.toContain('sk-')
      expect(error.openaiCode).toBeNull()
    }
  })

  it('answers a 429 with 429 and a retry-after header when the upstream gave one', () => {
    const limited = map(httpError(429, { retryAfterMs: 2_500, code: 'rate_limit_exceeded' }))
    expect(limited).toMatchObject({
      status: 429,
      code: 'rate_limited',
      retryAfterMs: 2_500,
      openaiCode: 'rate_limit_exceeded',
    })
    expect(limited.headers['retry-after']).toBe('3')
    expect(map(httpError(429)).headers['retry-after']).toBeUndefined()
  })

  it('answers 502 naming the provider for 5xx, connection and unreadable responses', () => {
    const cases = [
      httpError(529, { providerId: 'anthropic', message: 'Overloaded' }),
      new ProviderError({
        kind: 'connection',
        status: 502,
        message: 'ECONNREFUSED',
        providerId: 'anthropic',
      }),
      new ProviderError({
        kind: 'bad-response',
        status: 502,
        message: 'invalid JSON',
        providerId: 'anthropic',
      }),
    ]
    for (const error of cases) {
      const mapped = map(error)
      expect(mapped).toMatchObject({ status: 502, code: 'upstream' })
      expect(mapped.message).toContain('"anthropic"')
    }
  })

  it('words an error the upstream reported mid-stream as that, not as an HTTP status it never sent', () => {
    const overloaded = anthropicStreamError(
      '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
      'anthropic'
    )
    expect(map(overloaded)).toMatchObject({
      status: 502,
      message: 'Provider "anthropic" reported an error mid-stream (overloaded_error): Overloaded',
    })
    const chunk = createInBandError({
      value: { error: { message: 'The server had an error', type: 'server_error' } },
      error: { message: 'The server had an error', type: 'server_error', code: null, param: null },
      providerId: 'openai',
    })
    expect(map(chunk).message).toBe(
      'Provider "openai" reported an error mid-stream (server_error): The server had an error'
    )
    expect(map(inBandFailure('openai', { message: 'Boom' })).message).toBe(
      'Provider "openai" reported an error mid-stream: Boom'
    )
    // An HTTP answer's own status is still named.
    expect(map(httpError(503, { message: 'Unavailable', providerId: 'openai' })).message).toBe(
      'Provider "openai" failed with HTTP 503: Unavailable'
    )
  })

  it("words a connection failure so that it holds in the middle of a stream too (not 'could not reach')", () => {
    const closed = new ProviderError({
      kind: 'connection',
      status: 502,
      message: 'The upstream provider closed the connection.',
      providerId: 'openai',
    })
    expect(map(closed).message).toBe(
      'The connection to provider "openai" failed: The upstream provider closed the connection.'
    )
  })

  it('answers 504 for timeouts, 400 for conversion gaps and 499 when the client left', () => {
    expect(map(new ProviderError({ kind: 'timeout', status: 504, message: 'slow' }))).toMatchObject(
      { status: 504, code: 'timeout' }
    )
    expect(
      map(
        new ProviderError({
          kind: 'unsupported',
          status: 400,
          message: 'n > 1 is not supported',
          param: 'n',
        })
      )
    ).toMatchObject({ status: 400, code: 'invalid_request', param: 'n' })
    expect(map(new ProviderError({ kind: 'aborted', status: 499, message: 'gone' })).status).toBe(
      499
    )
  })
})
