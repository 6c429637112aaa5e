/**
 * Claude's 1-hour cache writes cost twice the input price, against 1.25 times for the 5-minute default. With an
 * upstream that splits its writes (`usage.cache_creation`), a forwarded Anthropic answer, streamed or not, reaches the
 * client with that split untouched and is priced by it; a converted one (an OpenAI client) is priced the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeServer } from '../../src/runtime/node.ts'
import {
  MOCK_ANTHROPIC_API_KEY,
  startMockAnthropicUpstream,
} from '../helpers/mock-anthropic-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'one-hour-master-key'
const split = { ephemeral_5m_input_tokens: 1_000, ephemeral_1h_input_tokens: 2_000 }

let upstream: MockUpstream
let gateway: NodeServer
const lines: string[] = []

beforeAll(async () => {
  upstream = await startMockAnthropicUpstream({
    cacheReadTokens: 500,
    cacheWriteTokens: 3_000,
    cacheWrite1hTokens: 2_000,
  })
  gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      'providers:',
      `  anthropic: { type: anthropic, apiKey: ${MOCK_ANTHROPIC_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false, models: [claude-haiku-4-5] }`,
    ],
    // A `usage` log line per event (the default on this branch; `USAGE_LOG` turns it on where it is not).
    env: { LOG_LEVEL: 'info', USAGE_LOG: 'true' },
    stdout: (line) => lines.push(line),
  })
}, 30_000)

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

type UsageLine = { usage: Record<string, number | null>; costMicroUsd: number | null }

const usageLine = async (requestId: string | null): Promise<UsageLine> => {
  const find = () =>
    lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.msg === 'usage' && entry.requestId === requestId)
  await expect.poll(find, { timeout: 5_000 }).toBeDefined()
  return find() as unknown as UsageLine
}

/**
 * Claude Haiku 4.5 per million tokens: $1 input, $0.10 cache reads, $1.25 5-minute writes, $2 1-hour writes, $5
 * output; so per token, in micro-USD, the same figures.
 */
const haikuCost = (usage: { input: number; output: number }): number =>
  usage.input * 1 + 500 * 0.1 + 1_000 * 1.25 + 2_000 * 2 + usage.output * 5

const post = (path: string, body: Record<string, unknown>, headers: Record<string, string>) =>
  fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })

const anthropicHeaders = { 'x-api-key': masterKey, 'anthropic-version': '2023-06-01' }
const question = {
  model: 'claude-haiku-4-5',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'Hello there.' }],
}

describe('1-hour cache writes', () => {
  it('pass through a forwarded answer untouched, and are priced at their own rate', async () => {
    const response = await post('/v1/messages', question, anthropicHeaders)
    expect(response.status).toBe(200)
    const body = (await response.json()) as { usage: Record<string, unknown> }
    expect(body.usage).toMatchObject({
      cache_creation_input_tokens: 3_000,
      cache_read_input_tokens: 500,
      cache_creation: split,
    })
    const record = await usageLine(response.headers.get('x-request-id'))
    const input = body.usage.input_tokens as number
    const output = body.usage.output_tokens as number
    expect(record.usage).toMatchObject({
      inputTokens: input + 3_500,
      cacheWriteInputTokens: 3_000,
      cacheWrite1hInputTokens: 2_000,
    })
    expect(record.costMicroUsd).toBe(haikuCost({ input, output }))
    // All 3,000 writes at the 5-minute rate would have been 1,500 micro-USD less.
    expect(record.costMicroUsd).toBe(
      input + 500 * 0.1 + 3_000 * 1.25 + output * 5 + 2_000 * (2 - 1.25)
    )
  })

  it('pass through a forwarded stream untouched, and are priced at their own rate', async () => {
    const response = await post('/v1/messages', { ...question, stream: true }, anthropicHeaders)
    expect(response.status).toBe(200)
    const events = (await response.text())
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)
    const start = events.find((event) => event.type === 'message_start') as {
      message: { usage: Record<string, number> }
    }
    expect(start.message.usage.cache_creation).toEqual(split)
    const delta = events.find((event) => event.type === 'message_delta') as {
      usage: Record<string, number>
    }
    const record = await usageLine(response.headers.get('x-request-id'))
    expect(record.usage.cacheWrite1hInputTokens).toBe(2_000)
    expect(record.costMicroUsd).toBe(
      haikuCost({ input: delta.usage.input_tokens, output: delta.usage.output_tokens })
    )
  })

  it('are priced at their own rate for an OpenAI client too, whose answer carries the total writes', async () => {
    const response = await post(
      '/v1/chat/completions',
      { model: 'claude-haiku-4-5', messages: question.messages, max_tokens: 64 },
      { authorization: `Bearer ${masterKey}` }
    )
    expect(response.status).toBe(200)
    const body = (await response.json()) as {
      usage: {
        prompt_tokens: number
        completion_tokens: number
        prompt_tokens_details: Record<string, number>
      }
    }
    expect(body.usage.prompt_tokens_details).toMatchObject({
      cached_tokens: 500,
      cache_write_tokens: 3_000,
    })
    const record = await usageLine(response.headers.get('x-request-id'))
    expect(record.usage.cacheWrite1hInputTokens).toBe(2_000)
    expect(record.costMicroUsd).toBe(
      haikuCost({
        input: body.usage.prompt_tokens - 3_500,
        output: body.usage.completion_tokens,
      })
    )
  })
})
