import { describe, expect, it } from 'vitest'
import { buildResponseHeaders } from './forward-headers.ts'

const servedBy = { provider: 'openai', model: 'gpt-4o-mini', attempts: 2, firstByteAt: 0 }

describe('buildResponseHeaders', () => {
  it('passes rate-limit and retry headers through, renames the upstream request id, and drops everything else', () => {
    const upstream = new Headers({
      'content-type': 'application/json',
      'x-ratelimit-remaining-requests': '99',
      'x-ratelimit-reset-tokens': '6ms',
      'anthropic-ratelimit-tokens-remaining': '1000',
      'retry-after': '3',
      'retry-after-ms': '2500',
      'x-request-id': 'req_upstream_1',
      'set-cookie': '__cf_bm=secret; path=/',
      'openai-organization': 'org-private',
      'openai-processing-ms': '40',
      server: 'cloudflare',
      'content-length': '123',
    })
    const headers = buildResponseHeaders({
      base: { 'x-request-id': 'req_gateway' },
      upstream,
      servedBy,
      contentType: 'application/json',
    })
    expect(headers).toEqual({
      'content-type': 'application/json',
      'x-request-id': 'req_gateway',
      'x-gatehouse-provider': 'openai',
      'x-gatehouse-model': 'gpt-4o-mini',
      'x-gatehouse-attempts': '2',
      'x-ratelimit-remaining-requests': '99',
      'x-ratelimit-reset-tokens': '6ms',
      'anthropic-ratelimit-tokens-remaining': '1000',
      'retry-after': '3',
      'retry-after-ms': '2500',
      'x-gatehouse-upstream-request-id': 'req_upstream_1',
    })
  })

  it("leaves the provider account's rate limits out of a tenant key's response, and keeps its retry hints", () => {
    const headers = buildResponseHeaders({
      base: { 'x-request-id': 'req_g', 'x-ratelimit-limit-requests': '10' },
      upstream: new Headers({
        'x-ratelimit-limit-requests': '10000',
        'x-ratelimit-remaining-tokens': '199000',
        'anthropic-ratelimit-requests-remaining': '49',
        'retry-after': '3',
        'x-request-id': 'req_upstream_2',
      }),
      servedBy,
      contentType: 'application/json',
      hideUpstreamRateLimits: true,
    })
    expect(headers).toEqual({
      'content-type': 'application/json',
      'x-request-id': 'req_g',
      'x-ratelimit-limit-requests': '10',
      'x-gatehouse-provider': 'openai',
      'x-gatehouse-model': 'gpt-4o-mini',
      'x-gatehouse-attempts': '2',
      'retry-after': '3',
      'x-gatehouse-upstream-request-id': 'req_upstream_2',
    })
  })

  it("reads Anthropic's request-id, marks streams uncacheable and unbuffered, and says when max_tokens was defaulted", () => {
    const headers = buildResponseHeaders({
      base: { 'x-request-id': 'req_g', 'request-id': 'req_g' },
      upstream: new Headers({ 'request-id': 'req_anthropic' }),
      servedBy: { ...servedBy, provider: 'anthropic', defaultedMaxTokens: 8192 },
      contentType: 'text/event-stream; charset=utf-8',
    })
    expect(headers).toMatchObject({
      'request-id': 'req_g',
      'x-gatehouse-upstream-request-id': 'req_anthropic',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'x-gatehouse-default-max-tokens': '8192',
    })
  })
})
