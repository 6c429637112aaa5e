import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { CallRoute } from '../chat-call.ts'
import type { Target } from '../model-router.ts'
import { cacheKey, canonicalBody, canonicalJson, type CacheKeyInput } from './cache-key.ts'

const target = (provider: string, model: string): Target =>
  ({ provider: { config: { id: provider } }, model }) as unknown as Target

const route = (...targets: Target[]): CallRoute => ({ name: null, targets })

const base = (body: Record<string, unknown>, more: Partial<CacheKeyInput> = {}): CacheKeyInput => ({
  operation: 'chat-completions',
  route: route(target('openai', 'gpt-4o-mini')),
  scope: 'tenant:acme',
  namespace: null,
  headers: {},
  body,
  ...more,
})

const chat = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: [{ type: 'text', text: 'hello' }] },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'f',
        parameters: { type: 'object', properties: { a: { type: 'string' } } },
      },
    },
  ],
  max_completion_tokens: 50,
}

/** The same JSON with every object's keys in reverse order, serialised with other whitespace and parsed back. */
const reordered = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reordered)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(value).reverse())
    out[name] = reordered((value as Record<string, unknown>)[name])
  return out
}
const reserialised = (value: unknown): Record<string, unknown> =>
  JSON.parse(JSON.stringify(reordered(value), null, 7)) as Record<string, unknown>

describe('cacheKey', () => {
  it('is 64 hex digits, the same for the same request however its keys are ordered and spaced', async () => {
    const key = await cacheKey(base(chat))
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    const again = reserialised(chat)
    expect(JSON.stringify(again)).not.toBe(JSON.stringify(chat))
    expect(await cacheKey(base(again))).toBe(key)
  })

  it('ignores stream, stream_options, user, safety_identifier, metadata, prompt_cache_key and the model name', async () => {
    const key = await cacheKey(base(chat))
    expect(
      await cacheKey(
        base({
          ...chat,
          model: 'an-alias',
          stream: true,
          stream_options: { include_usage: true },
          user: 'u-1',
          safety_identifier: 's',
          metadata: { a: 'b' },
          prompt_cache_key: 'k',
        })
      )
    ).toBe(key)
  })

  it('leaves defaults and top-level nulls out: n 1, temperature 1, top_p 1, penalties 0, empty stop, tool_choice auto with tools', async () => {
    const key = await cacheKey(base(chat))
    expect(
      await cacheKey(
        base({
          ...chat,
          n: 1,
          temperature: 1,
          top_p: 1,
          presence_penalty: 0,
          frequency_penalty: 0,
          stop: [],
          logprobs: false,
          parallel_tool_calls: true,
          tool_choice: 'auto',
          response_format: { type: 'text' },
          seed: null,
        })
      )
    ).toBe(key)
    const anthropic = {
      model: 'claude',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
    }
    const anthropicKey = await cacheKey(base(anthropic, { operation: 'messages' }))
    expect(
      await cacheKey(
        base(
          {
            ...anthropic,
            temperature: 1,
            stop_sequences: [],
            metadata: { user_id: 'x' },
            stream: true,
          },
          { operation: 'messages' }
        )
      )
    ).toBe(anthropicKey)
  })

  it('changes with every parameter that changes the answer', async () => {
    const key = await cacheKey(base(chat))
    const variants: Record<string, unknown>[] = [
      { ...chat, temperature: 0 },
      { ...chat, max_completion_tokens: 51 },
      { ...chat, seed: 7 },
      { ...chat, tool_choice: 'required' },
      { ...chat, tools: [] },
      { ...chat, response_format: { type: 'json_object' } },
      { ...chat, messages: [...chat.messages, { role: 'user', content: 'more' }] },
      { ...chat, messages: [chat.messages[1], chat.messages[0]] },
      { ...chat, stop: ['x'] },
      { ...chat, n: 2 },
      { ...chat, some_future_parameter: true },
    ]
    const keys = await Promise.all(variants.map((variant) => cacheKey(base(variant))))
    expect(new Set([key, ...keys]).size).toBe(variants.length + 1)
  })

  it('changes with the operation, the targets, the scope, the namespace and the forwarded headers', async () => {
    const key = await cacheKey(base(chat))
    const others = await Promise.all([
      cacheKey(base(chat, { operation: 'messages' })),
      cacheKey(base(chat, { route: route(target('openai', 'gpt-4o')) })),
      cacheKey(base(chat, { route: route(target('groq', 'gpt-4o-mini')) })),
      cacheKey(base(chat, { scope: 'tenant:other' })),
      cacheKey(base(chat, { scope: 'master' })),
      cacheKey(base(chat, { scope: 'shared' })),
      cacheKey(base(chat, { namespace: 'eval-1' })),
      cacheKey(base(chat, { headers: { 'anthropic-beta': 'x' } })),
    ])
    expect(new Set([key, ...others]).size).toBe(others.length + 1)
  })

  it("is the same with the runtime's synchronous hash (Node's createHash) as with Web Crypto's", async () => {
    const sync = (text: string): string => createHash('sha256').update(text).digest('hex')
    const key = await cacheKey(base(chat))
    expect(await cacheKey(base(chat), sync)).toBe(key)
    expect(await cacheKey(base({ ...chat, temperature: 0.2 }), sync)).not.toBe(key)
  })

  it('keys a Responses request by what changes its answer: not store, stream, metadata nor defaults', async () => {
    const responses = {
      model: 'gpt-4o',
      instructions: 'be brief',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'hello' }] }],
    }
    const of = (body: Record<string, unknown>) => cacheKey(base(body, { operation: 'responses' }))
    const key = await of(responses)
    for (const same of [
      reserialised(responses),
      { ...responses, store: false, stream: true, stream_options: { include_obfuscation: false } },
      { ...responses, metadata: { run: '1' }, user: 'u', prompt_cache_key: 'k' },
      { ...responses, temperature: 1, top_p: 1, truncation: 'disabled', tools: [], include: [] },
      { ...responses, text: { format: { type: 'text' } }, tool_choice: 'none' },
    ])
      expect(await of(same)).toBe(key)
    const variants: Record<string, unknown>[] = [
      { ...responses, instructions: 'be long' },
      { ...responses, temperature: 0 },
      { ...responses, max_output_tokens: 10 },
      { ...responses, reasoning: { effort: 'low' } },
      { ...responses, text: { format: { type: 'json_object' } } },
      { ...responses, include: ['reasoning.encrypted_content'] },
      { ...responses, previous_response_id: 'resp_1', store: false },
    ]
    const keys = await Promise.all(variants.map(of))
    expect(new Set([key, ...keys]).size).toBe(variants.length + 1)
  })

  it('keys embeddings by their input, dimensions and encoding (float is the default), not by user', async () => {
    const embeddings = { model: 'text-embedding-3-small', input: ['a', 'b'] }
    const of = (body: Record<string, unknown>) => cacheKey(base(body, { operation: 'embeddings' }))
    const key = await of(embeddings)
    expect(await of({ ...embeddings, encoding_format: 'float', user: 'u' })).toBe(key)
    const keys = await Promise.all(
      [
        { ...embeddings, encoding_format: 'base64' },
        { ...embeddings, dimensions: 256 },
        { ...embeddings, input: ['b', 'a'] },
      ].map(of)
    )
    expect(new Set([key, ...keys]).size).toBe(4)
  })

  it('takes the targets as a set: the order a weighted route drew them in does not matter', async () => {
    const a = target('openai', 'gpt-4o')
    const b = target('anthropic', 'claude')
    expect(await cacheKey(base(chat, { route: route(a, b) }))).toBe(
      await cacheKey(base(chat, { route: route(b, a) }))
    )
  })
})

describe('canonicalJson', () => {
  it('sorts keys at every level and keeps array order', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }, 3], a: null, e: 'é' })).toBe(
      '{"a":null,"b":[{"c":2,"d":1},3],"e":"é"}'
    )
  })

  it('orders keys by code unit, number-like ones too, and writes what JSON.stringify writes for each value', () => {
    // V8 enumerates integer-like keys first, in numeric order: a sorted copy passed to JSON.stringify would not do.
    const logitBias = { '50256': -100, '9': 5, '10': 1 }
    expect(canonicalJson({ logit_bias: logitBias })).toBe(
      '{"logit_bias":{"10":1,"50256":-100,"9":5}}'
    )
    expect(
      canonicalJson({ z: [undefined, 'quote " \\ \n \u2028', 1.5e-7, true], a: undefined })
    ).toBe('{"z":[null,"quote \\" \\\\ \\n \u2028",1.5e-7,true]}')
    const long = 'k'.repeat(100)
    expect(canonicalJson({ [long]: 1, [long + 'x']: 2 })).toBe(`{"${long}":1,"${long}x":2}`)
  })

  it('keeps nested nulls (a schema default of null means something)', () => {
    expect(canonicalBody('chat-completions', { a: { b: null }, c: null })).toEqual({
      a: { b: null },
    })
  })
})
