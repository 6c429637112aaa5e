/**
 * What global fallbacks stand in for, end to end through the real Node server with the local models behind an
 * upstream that is down: an outage, not the wrong model. A fallback that cannot take the request as it is (the local
 * model and tools) is passed over, and the client gets the failure that led there, not a 400 about a model it never
 * named; a model the client named itself that cannot serve the operation (chat on an embedding model) is a 400, not
 * an answer from a fallback.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  embeddingModelName,
  writeEmbeddingModel,
} from '../../scripts/tiny-model/write-embedding-model.ts'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import type { NodeServer } from '../../src/runtime/node.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'gh-fallback-refusals-key'
let root: string
let gateway: NodeServer & { cwd: string }

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fallback-refusals-'))
  await writeEmbeddingModel(join(root, 'models', embeddingModelName, '1'))
  await writeTinyModel(join(root, 'models', tinyModelName, '1'))
  gateway = await startTestGateway({
    config: [
      'providers:',
      '  local:',
      '    type: local',
      `    directory: ${join(root, 'models')}`,
      // Nothing listens there: every call to it fails to connect.
      '  away:',
      '    type: openai-compatible',
      '    baseUrl: http://127.0.0.1:9/v1',
      '    apiKey: sk-away-fallback-refusals',
      'retry: { maxRetries: 0 }',
      'circuitBreaker: { minFailures: 1000 }',
      'fallbacks:',
      `  - { provider: local, model: ${tinyModelName} }`,
      `  - { provider: local, model: ${embeddingModelName} }`,
    ],
    env: { GATEHOUSE_MASTER_KEY: masterKey },
  })
}, 60_000)

afterAll(async () => {
  await gateway?.close()
  await rm(root, { recursive: true, force: true })
})

const post = async (path: string, body: Record<string, unknown>) => {
  const response = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return {
    status: response.status,
    provider: response.headers.get('x-gatehouse-provider'),
    shouldRetry: response.headers.get('x-should-retry'),
    json: (await response.json()) as { error?: { message: string; param?: string | null } },
  }
}

const tool = {
  type: 'function',
  function: { name: 'lookup', parameters: { type: 'object', properties: {} } },
}

describe('global fallbacks and what they cannot serve', () => {
  it('answers from the local fallback while the upstream is down (the control)', async () => {
    const reply = await post('/v1/chat/completions', {
      model: 'away/gpt-4o-mini',
      max_tokens: 3,
      messages: [{ role: 'user', content: 'hi' }],
    })
    expect(reply).toMatchObject({ status: 200, provider: 'local' })
  })

  it('passes over a fallback that cannot take tools: the client gets the outage, not a 400 of that model', async () => {
    const reply = await post('/v1/chat/completions', {
      model: 'away/gpt-4o-mini',
      tools: [tool],
      messages: [{ role: 'user', content: 'hi' }],
    })
    expect(reply.status).toBe(502)
    expect(reply.json.error?.message).toMatch(/provider "away"/)
    expect(reply.json.error?.message).not.toMatch(/cannot call tools/)
  })

  it('answers 400 for chat on an embedding model the client named, and embeddings from a chat model, with fallbacks behind them', async () => {
    const chat = await post('/v1/chat/completions', {
      model: `local/${embeddingModelName}`,
      messages: [{ role: 'user', content: 'hi' }],
    })
    expect(chat.status).toBe(400)
    expect(chat.json.error?.param).toBe('model')
    const embeddings = await post('/v1/embeddings', {
      model: `local/${tinyModelName}`,
      input: 'hi',
    })
    expect(embeddings.status).toBe(400)
    expect(embeddings.json.error?.param).toBe('model')
  })
})
