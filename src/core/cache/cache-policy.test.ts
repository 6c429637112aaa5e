import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors.ts'
import { defaultCachePolicy } from '../resolve-config.ts'
import { readCacheControls, ttlFor, uncacheableReason } from './cache-policy.ts'

const controls = (headers: Record<string, string>) => readCacheControls(new Headers(headers))

describe('readCacheControls', () => {
  it('reads and stores by default', () => {
    expect(controls({})).toEqual({
      read: true,
      store: true,
      maxAgeMs: null,
      ttlMs: null,
      namespace: null,
    })
  })

  it('no-cache skips the read but stores; no-store does neither; max-age bounds the age read', () => {
    expect(controls({ 'cache-control': 'no-cache' })).toMatchObject({ read: false, store: true })
    expect(controls({ 'cache-control': 'No-Store' })).toMatchObject({ read: false, store: false })
    expect(controls({ 'cache-control': 'private, max-age=60' })).toMatchObject({
      read: true,
      store: true,
      maxAgeMs: 60_000,
    })
    expect(controls({ 'cache-control': 'max-age=soon' }).maxAgeMs).toBeNull()
  })

  it('reads the TTL and the namespace, and refuses a malformed TTL or an overlong namespace with a 400', () => {
    expect(
      controls({ 'x-gatehouse-cache-ttl': ' 120 ', 'x-gatehouse-cache-namespace': ' eval ' })
    ).toMatchObject({ ttlMs: 120_000, namespace: 'eval' })
    for (const headers of <Record<string, string>[]>[
      { 'x-gatehouse-cache-ttl': '-1' },
      { 'x-gatehouse-cache-ttl': '1.5' },
      { 'x-gatehouse-cache-namespace': 'x'.repeat(257) },
    ]) {
      let caught: unknown
      try {
        controls(headers)
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(GatewayError)
      expect((caught as GatewayError).status).toBe(400)
    }
  })

  it('bounds a requested TTL by the policy', () => {
    const policy = { ...defaultCachePolicy, ttlMs: 10_000, maxTtlMs: 60_000 }
    expect(ttlFor(policy, controls({}))).toBe(10_000)
    expect(ttlFor(policy, controls({ 'x-gatehouse-cache-ttl': '30' }))).toBe(30_000)
    expect(ttlFor(policy, controls({ 'x-gatehouse-cache-ttl': '3600' }))).toBe(60_000)
  })
})

describe('uncacheableReason', () => {
  const policy = defaultCachePolicy
  const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }] }

  it('caches a plain request, and temperatures up to the threshold', () => {
    expect(uncacheableReason('chat-completions', chat, policy)).toBeNull()
    expect(uncacheableReason('chat-completions', { ...chat, temperature: 1 }, policy)).toBeNull()
    expect(uncacheableReason('messages', { ...chat, temperature: 0.2 }, policy)).toBeNull()
  })

  it('leaves out n > 1 and high temperatures unless the policy says so', () => {
    expect(uncacheableReason('chat-completions', { ...chat, n: 2 }, policy)).toBe('n > 1')
    expect(uncacheableReason('messages', { ...chat, temperature: 1.5 }, policy)).toBe('temperature')
    const lenient = { ...policy, nonDeterministic: true }
    expect(uncacheableReason('chat-completions', { ...chat, n: 2 }, lenient)).toBeNull()
    expect(uncacheableReason('messages', { ...chat, temperature: 1.5 }, lenient)).toBeNull()
    expect(
      uncacheableReason(
        'chat-completions',
        { ...chat, temperature: 0.5 },
        {
          ...policy,
          maxTemperature: 0,
        }
      )
    ).toBe('temperature')
  })

  it('never caches what it could not replay: logprobs, audio, server tools; nor token counts', () => {
    expect(uncacheableReason('chat-completions', { ...chat, logprobs: true }, policy)).toBe(
      'logprobs'
    )
    expect(
      uncacheableReason('chat-completions', { ...chat, modalities: ['text', 'audio'] }, policy)
    ).toBe('audio output')
    expect(
      uncacheableReason(
        'messages',
        { ...chat, tools: [{ type: 'web_search_20250305', name: 'web_search' }] },
        policy
      )
    ).toBe('server tools')
    expect(
      uncacheableReason('messages', { ...chat, tools: [{ name: 'f', input_schema: {} }] }, policy)
    ).toBeNull()
    expect(uncacheableReason('count-tokens', chat, policy)).toBe('not a cached operation')
  })

  it('caches embeddings whatever their parameters: nothing in them varies', () => {
    expect(uncacheableReason('embeddings', { input: 'x', temperature: 2 }, policy)).toBeNull()
  })

  it('caches a Responses request unless it runs in the background, or on state the upstream holds', () => {
    const responses = { model: 'gpt-4o', input: 'hi' }
    expect(uncacheableReason('responses', responses, policy)).toBeNull()
    expect(uncacheableReason('responses', { ...responses, background: true }, policy)).toBe(
      'background'
    )
    expect(uncacheableReason('responses', { ...responses, conversation: 'conv_1' }, policy)).toBe(
      'a conversation held upstream'
    )
    expect(uncacheableReason('responses', { ...responses, prompt: { id: 'pmpt_1' } }, policy)).toBe(
      'a prompt template held upstream'
    )
    const chained = { ...responses, previous_response_id: 'resp_1' }
    expect(uncacheableReason('responses', chained, policy)).toBe(
      'chained to a response held upstream'
    )
    expect(uncacheableReason('responses', { ...chained, store: false }, policy)).toBeNull()
    expect(
      uncacheableReason(
        'responses',
        { ...responses, include: ['message.output_text.logprobs'] },
        policy
      )
    ).toBe('logprobs')
    expect(uncacheableReason('responses', { ...responses, top_logprobs: 2 }, policy)).toBe(
      'logprobs'
    )
    expect(uncacheableReason('responses', { ...responses, top_logprobs: 0 }, policy)).toBeNull()
    expect(
      uncacheableReason('responses', { ...responses, tools: [{ type: 'web_search' }] }, policy)
    ).toBe('tools only OpenAI runs')
    expect(
      uncacheableReason(
        'responses',
        { ...responses, tools: [{ type: 'function', name: 'f' }], temperature: 0 },
        policy
      )
    ).toBeNull()
    expect(uncacheableReason('responses', { ...responses, temperature: 1.5 }, policy)).toBe(
      'temperature'
    )
  })
})
