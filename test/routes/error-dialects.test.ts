/**
 * Which shape an error takes, through the whole app: the route's own API decides it. An `anthropic-version` header
 * switches only the routes both APIs share (`/v1/models`, an unknown path) to Anthropic's shape; the OpenAI-only
 * routes answer OpenAI's shape whatever headers the client sends, and the Anthropic routes Anthropic's.
 */
import { describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { masterPrincipal } from '../../src/core/principal.ts'
import { detectDialect } from '../../src/middleware/request-context.ts'
import { chatResult, createFakeAdapter, createFakeDeps } from '../helpers/fake-deps.ts'

const key = 'test-master-key'

const app = createApp(
  createFakeDeps({
    adapters: [
      createFakeAdapter({ id: 'openai', chat: async () => chatResult('hello', 'gpt-4o-mini') }),
    ],
    authenticator: { authenticate: (presented) => (presented === key ? masterPrincipal : null) },
    config: { providers: { openai: { models: ['gpt-4o-mini'], discoverModels: false } } },
  })
)

const openAIShape = {
  error: {
    message: expect.any(String),
    type: expect.any(String),
    param: null,
    code: expect.toSatisfy((code: unknown) => code === null || typeof code === 'string'),
  },
}
const anthropicShape = {
  type: 'error',
  error: { type: expect.any(String), message: expect.any(String) },
  request_id: expect.any(String),
}

describe('error shapes with and without anthropic-version', () => {
  for (const path of ['/v1/chat/completions', '/v1/responses', '/v1/embeddings'])
    for (const [problem, headers, body, status] of [
      ['a bad key', { authorization: 'Bearer wrong' }, '{}', 401],
      ['malformed JSON', { authorization: `Bearer ${key}` }, '{"model":', 400],
    ] as const)
      it(`${path}: ${problem} is OpenAI-shaped even with anthropic-version`, async () => {
        const response = await app.request(path, {
          method: 'POST',
          headers: {
            ...headers,
            'content-type': 'application/json',
            'anthropic-version': '2023-06-01',
          },
          body,
        })
        expect(response.status).toBe(status)
        expect(await response.json()).toEqual(openAIShape)
      })

  it('/v1/messages is Anthropic-shaped without the header', async () => {
    const response = await app.request('/v1/messages', {
      method: 'POST',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: '{}',
    })
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual(anthropicShape)
  })

  it('/v1/models and unknown paths follow the header', async () => {
    for (const path of ['/v1/models', '/v1/nothing-here']) {
      const anthropic = await app.request(path, {
        headers: { 'x-api-key': 'wrong', 'anthropic-version': '2023-06-01' },
      })
      expect(await anthropic.json()).toEqual(anthropicShape)
      const openai = await app.request(path, { headers: { authorization: 'Bearer wrong' } })
      expect(await openai.json()).toEqual(openAIShape)
    }
  })

  it('detectDialect', () => {
    const both = new Headers({ 'anthropic-version': '2023-06-01' })
    const none = new Headers()
    expect(detectDialect('/v1/chat/completions', both)).toBe('openai')
    expect(detectDialect('/v1/responses/resp_1/input_items', both)).toBe('openai')
    expect(detectDialect('/v1/messages/count_tokens', none)).toBe('anthropic')
    expect(detectDialect('/v1/models', both)).toBe('anthropic')
    expect(detectDialect('/v1/models', none)).toBe('openai')
  })
})
