/**
 * The config's global `fallbacks`, end to end through the real Node server: a model without a route of its own falls
 * back to them once its own target has failed (spent its retries, or its circuit is open), the response names the
 * provider that answered, a route keeps its own targets only, and the prompt cache never stores a fallback's answer
 * (it must not outlive the outage it covered). And a route's `shortRequests`: short requests go to its short target
 * first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'gh-fallbacks-master'
let primary: MockUpstream
let backup: MockUpstream
let gateway: Awaited<ReturnType<typeof startTestGateway>>

const ask = async (
  model: string,
  content: string,
  stream = false,
  more: Record<string, unknown> = {}
) => {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], stream, ...more }),
  })
  return {
    status: response.status,
    provider: response.headers.get('x-gatehouse-provider'),
    model: response.headers.get('x-gatehouse-model'),
    cache: response.headers.get('x-gatehouse-cache'),
    text: await response.text(),
  }
}

beforeAll(async () => {
  ;[primary, backup] = await Promise.all([
    startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY }),
    startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY }),
  ])
  gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      'retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 }',
      // The cases fail the primary on purpose; an open circuit would send them all to the fallback at once.
      'circuitBreaker: { minFailures: 1000 }',
      'providers:',
      `  primary: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${primary.baseUrl}", discoverModels: false, models: [gpt-4o-mini] }`,
      `  backup: { type: openai-compatible, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${backup.baseUrl}", discoverModels: false }`,
      'routes:',
      '  - { name: own-route, targets: [{ provider: primary, model: gpt-4o }] }',
      '  - name: short-first',
      '    targets: [{ provider: primary, model: gpt-4o }]',
      '    shortRequests: { provider: backup, model: small-model, maxInputTokens: 50, maxOutputTokens: 64 }',
      'fallbacks:',
      '  - { provider: backup, model: small-model }',
      'cache: { enabled: true }',
    ],
  })
})

afterAll(async () => {
  await gateway?.close()
  await Promise.all([primary?.close(), backup?.close()])
})

const backupCalls = (): number =>
  backup.requests.filter((request) => request.path === '/v1/chat/completions').length

describe('global fallbacks', () => {
  it('answers from a fallback once the model’s own target has spent its retries, and says who answered', async () => {
    const content = `outage ${Date.now()}`
    primary.enqueue({ status: 500 }, { status: 500 })
    const before = backupCalls()
    const reply = await ask('primary/gpt-4o-mini', content)
    expect(reply.status).toBe(200)
    expect(reply.provider).toBe('backup')
    expect(reply.model).toBe('small-model')
    expect(backupCalls()).toBe(before + 1)
    const sent = backup.requests.at(-1)!.body as { model: string }
    expect(sent.model).toBe('small-model')
    // An unprefixed name the primary lists falls back the same way, streamed too.
    primary.enqueue({ status: 503 }, { status: 503 })
    const streamed = await ask('gpt-4o-mini', content, true)
    expect(streamed.status).toBe(200)
    expect(streamed.provider).toBe('backup')
    expect(streamed.text.trim().endsWith('data: [DONE]')).toBe(true)
  })

  it('never stores a fallback’s answer: once the provider is back, the same request goes to it', async () => {
    const content = `not kept ${Date.now()}`
    primary.enqueue({ status: 500 }, { status: 500 })
    const during = await ask('primary/gpt-4o-mini', content)
    expect(during).toMatchObject({ status: 200, provider: 'backup', cache: 'miss' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    const after = await ask('primary/gpt-4o-mini', content)
    expect(after).toMatchObject({ status: 200, provider: 'primary', cache: 'miss' })
    // The provider's own answer is stored as usual.
    for (let tries = 0; tries < 50; tries += 1) {
      const again = await ask('primary/gpt-4o-mini', content)
      if (again.cache === 'hit') {
        expect(again.provider).toBe('primary')
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error('the provider’s answer was never stored')
  })

  it('sends a route’s short requests to its short target first, and the rest to its targets', async () => {
    const short = { max_tokens: 32 }
    expect(await ask('short-first', `short ${Date.now()}`, false, short)).toMatchObject({
      status: 200,
      provider: 'backup',
      model: 'small-model',
    })
    // Over a bound, or no bound on the output: the route's targets.
    for (const [content, more] of [
      [`long ${'word '.repeat(300)}`, short],
      [`unbounded ${Date.now()}`, {}],
      [`too much ${Date.now()}`, { max_tokens: 65 }],
    ] as const)
      expect(await ask('short-first', content, false, more)).toMatchObject({
        status: 200,
        provider: 'primary',
      })
    // The short target failing, the route's targets answer.
    backup.enqueue({ status: 500 }, { status: 500 })
    expect(await ask('short-first', `short again ${Date.now()}`, false, short)).toMatchObject({
      status: 200,
      provider: 'primary',
    })
  })

  it('leaves a route to its own targets', async () => {
    primary.enqueue({ status: 500 }, { status: 500 })
    const before = backupCalls()
    const reply = await ask('own-route', `route ${Date.now()}`)
    expect(reply.status).toBe(502)
    expect(backupCalls()).toBe(before)
  })
})
