import { describe, expect, it } from 'vitest'
import { parseWarmLine } from './parse-warm-line.ts'

const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }

describe('parseWarmLine', () => {
  it('reads a bare body as a chat completion, with streaming off', () => {
    expect(
      parseWarmLine(
        JSON.stringify({ ...chat, stream: true, stream_options: { include_usage: true } })
      )
    ).toEqual({ request: { path: '/v1/chat/completions', body: chat, headers: {} } })
  })

  it('reads a path, a body and headers; names are lowercased', () => {
    const line = JSON.stringify({
      path: '/v1/embeddings',
      body: { model: 'openai/text-embedding-3-small', input: 'x' },
      headers: { 'X-Gatehouse-Cache-Namespace': 'evals', 'Cache-Control': 'no-cache' },
    })
    expect(parseWarmLine(line)).toEqual({
      request: {
        path: '/v1/embeddings',
        body: { model: 'openai/text-embedding-3-small', input: 'x' },
        headers: { 'x-gatehouse-cache-namespace': 'evals', 'cache-control': 'no-cache' },
      },
    })
  })

  it("gives a Messages request the Anthropic SDKs' version unless it names one", () => {
    const body = { model: 'anthropic/claude-haiku-4-5', max_tokens: 10, messages: [], stream: true }
    const bare = parseWarmLine(JSON.stringify({ path: '/v1/messages', body }))
    expect(bare).toMatchObject({
      request: { headers: { 'anthropic-version': '2023-06-01' } },
    })
    expect('request' in bare && 'stream' in bare.request.body).toBe(false)
    const named = parseWarmLine(
      JSON.stringify({ path: '/v1/messages', body, headers: { 'anthropic-version': '2024-01-01' } })
    )
    expect(named).toMatchObject({ request: { headers: { 'anthropic-version': '2024-01-01' } } })
  })

  it('refuses what it cannot send, saying why', () => {
    const cases: [string, RegExp][] = [
      ['{"model": "openai/gpt-4o-mini", "messages": [', /^not JSON \(/],
      ['[1, 2]', /a line is a JSON object/],
      ['"text"', /a line is a JSON object/],
      [JSON.stringify({ path: '/v1/models', body: {} }), /`path` must be one of .*"\/v1\/models"/],
      [JSON.stringify({ body: chat }), /`path` must be one of/],
      [JSON.stringify({ path: '/v1/chat/completions' }), /`body` must be a JSON object/],
      [JSON.stringify({ path: '/v1/chat/completions', body: [] }), /`body` must be a JSON object/],
      [
        JSON.stringify({ path: '/v1/chat/completions', body: chat, model: 'x' }),
        /unknown field `model`/,
      ],
      [
        JSON.stringify({ path: '/v1/chat/completions', body: chat, headers: ['a'] }),
        /`headers` must be an object/,
      ],
      [
        JSON.stringify({ path: '/v1/chat/completions', body: chat, headers: { 'x-a': 1 } }),
        /`headers.x-a` must be a string/,
      ],
      [
        JSON.stringify({ path: '/v1/chat/completions', body: chat, headers: { 'bad name': 'x' } }),
        /not a header name/,
      ],
      [
        JSON.stringify({ path: '/v1/chat/completions', body: chat, headers: { Host: 'x' } }),
        /may not set host/,
      ],
    ]
    for (const [line, reason] of cases) {
      const parsed = parseWarmLine(line)
      expect('error' in parsed ? parsed.error : parsed, line).toMatch(reason)
    }
  })

  it('refuses a key in the file without repeating it', () => {
    for (const name of ['Authorization', 'x-api-key']) {
      const parsed = parseWarmLine(
        JSON.stringify({
          path: '/v1/chat/completions',
          body: chat,
          headers: { [name]: 'Bearer gh-secret-key' },
        })
      )
      expect('error' in parsed && parsed.error).toMatch(/the key is the one given to the command/)
      expect(JSON.stringify(parsed)).not.toContain('gh-secret-key')
    }
  })
})
