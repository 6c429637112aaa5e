/**
 * Bodies nested too deeply, through the real Node server to mock upstreams: a 400 in the client's dialect naming the
 * limit and the field, never a 502 blaming the provider, never a mark against its circuit breaker; a body exactly at
 * the limit goes through whole.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { maxJsonDepth } from '../../src/api/field-nested-too-deep.ts'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'
import {
  MOCK_ANTHROPIC_API_KEY,
  startMockAnthropicUpstream,
} from '../helpers/mock-anthropic-upstream.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'

const masterKey = 'test-master-key'

/** JSON text of `levels` objects inside one another, `{"a":{"a":{}}}` for 3, built as text (no recursion). */
const nested = (levels: number): string =>
  `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`

/** Depth of a parsed value, the value itself counting as one level when it is an object or array. */
const depthOf = (value: unknown): number => {
  if (typeof value !== 'object' || value === null) return 0
  let deepest = 0
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child))
  return deepest + 1
}

const dialects = [
  {
    dialect: 'OpenAI',
    path: '/v1/chat/completions',
    /** Body, tools array, tool, function: the schema starts at level 5. */
    withToolSchema: (schema: string) =>
      `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"lookup","parameters":${schema}}}]}`,
    schemaLevel: 4,
    withMetadata: (metadata: string, model = 'gpt-4o-mini') =>
      `{"model":"${model}","messages":[{"role":"user","content":"hi"}],"metadata":${metadata}}`,
    /** A route whose first target is this dialect's provider and whose fallback speaks the other one. */
    guardedRoute: { name: 'guarded-gpt', first: 'oai' },
    rejection: (field: string) => ({
      error: {
        message: expect.stringContaining(`at most ${maxJsonDepth} levels`),
        type: 'invalid_request_error',
        param: field,
        code: null,
      },
    }),
  },
  {
    dialect: 'Anthropic',
    path: '/v1/messages',
    /** Body, tools array, tool: the schema starts at level 4. */
    withToolSchema: (schema: string) =>
      `{"model":"claude-sonnet-4-6","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"lookup","input_schema":${schema}}]}`,
    schemaLevel: 3,
    withMetadata: (metadata: string, model = 'claude-sonnet-4-6') =>
      `{"model":"${model}","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"metadata":${metadata}}`,
    guardedRoute: { name: 'guarded-claude', first: 'claude' },
    rejection: () => ({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: expect.stringContaining(`at most ${maxJsonDepth} levels`),
      },
      request_id: expect.any(String),
    }),
  },
] as const

let openai: MockUpstream
let anthropic: MockUpstream
let server: NodeServer

const post = (path: string, body: string) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${masterKey}`,
      'content-type': 'application/json',
      ...(path === '/v1/messages' ? { 'anthropic-version': '2023-06-01' } : {}),
    },
    body,
  })

beforeAll(async () => {
  ;[openai, anthropic] = await Promise.all([
    startMockOpenAIUpstream({ apiKey: MOCK_OPENAI_API_KEY }),
    startMockAnthropicUpstream({ apiKey: MOCK_ANTHROPIC_API_KEY }),
  ])
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-json-depth-'))
  writeFileSync(
    join(cwd, 'gatehouse.yaml'),
    `
auth: { masterKey: ${masterKey} }
providers:
  oai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${openai.baseUrl}", discoverModels: false, models: [gpt-4o-mini] }
  claude: { type: anthropic, apiKey: ${MOCK_ANTHROPIC_API_KEY}, baseUrl: "${anthropic.baseUrl}", discoverModels: false, models: [claude-sonnet-4-6] }
routes:
  - name: guarded-gpt
    targets: [{ provider: oai, model: gpt-4o-mini }, { provider: claude, model: claude-sonnet-4-6 }]
  - name: guarded-claude
    targets: [{ provider: claude, model: claude-sonnet-4-6 }, { provider: oai, model: gpt-4o-mini }]
retry: { maxRetries: 0 }
circuitBreaker: { minFailures: 3, failureRatio: 0.5, windowSize: 10, openMs: 60000 }
`
  )
  server = await startNodeServer({
    env: { GATEHOUSE_CONFIG: 'gatehouse.yaml', PORT: '0', LOG_LEVEL: 'silent' },
    cwd,
    stdout: () => {},
  })
})

afterAll(async () => {
  await server?.close()
  await Promise.all([openai?.close(), anthropic?.close()])
})

beforeEach(() => {
  openai.reset()
  anthropic.reset()
})

describe.each(dialects)('$dialect: a body nested too deeply', (case_) => {
  const upstream = (): MockUpstream => (case_.dialect === 'OpenAI' ? openai : anthropic)

  it('answers 100,000 levels with a 400 in the dialect, naming the limit and the field, and calls no provider', async () => {
    const response = await post(case_.path, case_.withMetadata(nested(100_000)))
    expect(response.status).toBe(400)
    expect(await response.json()).toEqual(case_.rejection('metadata'))
    expect(upstream().requests).toHaveLength(0)
  })

  it(`forwards a body exactly ${maxJsonDepth} levels deep whole, and rejects one level more`, async () => {
    const atLimit = case_.withToolSchema(nested(maxJsonDepth - case_.schemaLevel))
    expect(depthOf(JSON.parse(atLimit))).toBe(maxJsonDepth)
    const accepted = await post(case_.path, atLimit)
    expect(accepted.status).toBe(200)
    expect(upstream().requests).toHaveLength(1)
    expect(depthOf(upstream().requests[0]!.body)).toBe(maxJsonDepth)

    const over = await post(
      case_.path,
      case_.withToolSchema(nested(maxJsonDepth - case_.schemaLevel + 1))
    )
    expect(over.status).toBe(400)
    expect(await over.json()).toEqual(case_.rejection('tools'))
    expect(upstream().requests).toHaveLength(1)
  })

  it("leaves the provider's circuit breaker closed: the route's first target still serves the next request", async () => {
    const { name, first } = case_.guardedRoute
    const statuses: number[] = []
    for (let round = 0; round < 6; round++)
      statuses.push((await post(case_.path, case_.withMetadata(nested(10_000), name))).status)
    const normal = await post(case_.path, case_.withMetadata('{"user_id":"u-1"}', name))
    expect(normal.status).toBe(200)
    expect(normal.headers.get('x-gatehouse-provider')).toBe(first)
    expect(statuses).toEqual([400, 400, 400, 400, 400, 400])
  })
})
