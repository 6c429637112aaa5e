/**
 * Reasoning settings across dialects, through the real routes to the mock upstreams: a Chat Completions or Responses
 * client's effort reaches a Claude model as adaptive thinking and `output_config.effort` (the newest models) or as a
 * thinking budget (Claude 4.x before them); Claude Code's adaptive thinking and effort reach an OpenAI reasoning model
 * as `reasoning_effort`, and a model without reasoning (gpt-4o) gets none of it, still answers, and the response
 * names what was left out in `x-gatehouse-omitted-params`.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { E2E_MASTER_KEY, startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const claudeCodeBody = (model: string) => ({
  model,
  max_tokens: 32000,
  system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
  messages: [{ role: 'user', content: [{ type: 'text', text: 'list the files' }] }],
  thinking: { type: 'adaptive', display: 'omitted' },
  output_config: { effort: 'high' },
  context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  metadata: { user_id: JSON.stringify({ session_id: 's' }) },
})

describe('reasoning settings, converted', () => {
  let gateway: E2EGateway
  beforeAll(async () => {
    gateway = await startE2EGateway()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${E2E_MASTER_KEY}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    })
  const sentTo = (upstream: 'openai' | 'anthropic') => {
    const [request] = gateway[upstream].requests.filter((recorded) => recorded.method === 'POST')
    return request.body as Record<string, unknown>
  }

  it('Chat Completions → a Claude model with adaptive thinking: thinking adaptive and output_config.effort', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'anthropic/claude-opus-4-7',
      messages: [{ role: 'user', content: 'think hard' }],
      reasoning_effort: 'high',
    })
    expect(response.status).toBe(200)
    await response.json()
    const sent = sentTo('anthropic')
    expect(sent.thinking).toEqual({ type: 'adaptive' })
    expect(sent.output_config).toEqual({ effort: 'high' })
    expect(response.headers.get('x-gatehouse-omitted-params')).toBeNull()
  })

  it('Responses → a Claude model: the end user as metadata.user_id, the OpenAI-only settings named as left out', async () => {
    const response = await post('/v1/responses', {
      model: 'anthropic/claude-opus-4-7',
      input: 'hi',
      store: false,
      user: 'u1',
      safety_identifier: 'user-hash',
      prompt_cache_key: 'pck-1',
      service_tier: 'flex',
      text: { verbosity: 'low' },
      reasoning: { effort: 'high' },
    })
    expect(response.status).toBe(200)
    await response.json()
    expect(response.headers.get('x-gatehouse-omitted-params')).toBe(
      'prompt_cache_key, service_tier, text.verbosity'
    )
    const sent = sentTo('anthropic')
    expect(sent.metadata).toEqual({ user_id: 'user-hash' })
    expect(sent).not.toHaveProperty('service_tier')
    expect(sent.output_config).toEqual({ effort: 'high' })
  })

  it('Chat Completions → a Claude model with a thinking budget: thinking enabled with a budget below max_tokens', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'anthropic/claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'think a little' }],
      max_completion_tokens: 20000,
      reasoning_effort: 'medium',
    })
    expect(response.status).toBe(200)
    await response.json()
    const sent = sentTo('anthropic')
    expect(sent.thinking).toEqual({ type: 'enabled', budget_tokens: 8192 })
    expect(sent.max_tokens).toBe(20000)
    expect(sent.output_config).toBeUndefined()
  })

  it('Responses → a Claude model: reasoning.effort as adaptive thinking and output_config.effort', async () => {
    const response = await post('/v1/responses', {
      model: 'anthropic/claude-opus-4-7',
      input: 'think',
      store: false,
      reasoning: { effort: 'minimal', summary: 'auto' },
      text: {
        format: { type: 'json_schema', name: 'a', schema: { type: 'object', properties: {} } },
      },
    })
    expect(response.status).toBe(200)
    await response.json()
    const sent = sentTo('anthropic')
    expect(sent.thinking).toEqual({ type: 'adaptive' })
    expect(sent.output_config).toEqual({
      format: { type: 'json_schema', schema: { type: 'object', properties: {} } },
      effort: 'low',
    })
  })

  it('Messages (Claude Code) → gpt-5: reasoning_effort from output_config.effort', async () => {
    const response = await post('/v1/messages', claudeCodeBody('openai/gpt-5'), {
      'anthropic-version': '2023-06-01',
    })
    expect(response.status).toBe(200)
    await response.json()
    const sent = sentTo('openai')
    expect(sent.reasoning_effort).toBe('high')
    expect(sent).not.toHaveProperty('thinking')
    expect(response.headers.get('x-gatehouse-omitted-params')).toBeNull()
  })

  it('Messages (Claude Code) → gpt-4o: nothing of it sent, the answer comes, the header names what was left out', async () => {
    for (const stream of [false, true]) {
      gateway.reset()
      const response = await post(
        '/v1/messages',
        { ...claudeCodeBody('openai/gpt-4o'), stream },
        { 'anthropic-version': '2023-06-01' }
      )
      expect(response.status).toBe(200)
      expect(response.headers.get('x-gatehouse-omitted-params')).toBe(
        'output_config.effort, thinking'
      )
      const text = await response.text()
      expect(text).toContain(stream ? 'event: message_stop' : 'echo: list the files')
      const sent = sentTo('openai')
      expect(sent).not.toHaveProperty('reasoning_effort')
      expect(sent).not.toHaveProperty('thinking')
    }
  })

  it('Chat Completions → gpt-4o, same dialect: forwarded as sent, the upstream judges', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      reasoning_effort: 'low',
    })
    expect(response.status).toBe(200)
    // Same dialect: forwarded as sent, the upstream judges (no header).
    expect(sentTo('openai').reasoning_effort).toBe('low')
    expect(response.headers.get('x-gatehouse-omitted-params')).toBeNull()
  })

  it('names a refused field in the Responses client terms: text.format, input', async () => {
    const jsonObject = await post('/v1/responses', {
      model: 'anthropic/claude-opus-4-7',
      input: 'hi',
      store: false,
      text: { format: { type: 'json_object' } },
    })
    expect(jsonObject.status).toBe(400)
    expect(((await jsonObject.json()) as { error: { param: string } }).error.param).toBe(
      'text.format'
    )
    const empty = await post('/v1/responses', {
      model: 'anthropic/claude-opus-4-7',
      input: [{ role: 'user', content: '' }],
      store: false,
    })
    expect(empty.status).toBe(400)
    expect(((await empty.json()) as { error: { param: string } }).error.param).toBe('input')
    expect(gateway.anthropic.requests.filter((request) => request.method === 'POST')).toEqual([])
  })

  it("Chat Completions → Claude: a conversation of empty messages is the gateway's 400 naming messages", async () => {
    const response = await post('/v1/chat/completions', {
      model: 'anthropic/claude-opus-4-7',
      messages: [{ role: 'user', content: '' }],
    })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: { param: string } }).error.param).toBe('messages')
    expect(gateway.anthropic.requests.filter((request) => request.method === 'POST')).toEqual([])
  })
})
