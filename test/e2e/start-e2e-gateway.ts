import { expect } from 'vitest'
/**
 * The end-to-end harness: mock upstreams on 127.0.0.1, the gateway as shipped (the real Node server from
 * `startNodeServer`, configured through the environment like a user would: OPENAI_BASE_URL / ANTHROPIC_BASE_URL point
 * at the mocks), and the official SDK clients pointed at the gateway. A third mock plays an OpenAI-compatible server
 * that ignores `encoding_format: "base64"`, configured from a config file as provider `compat`.
 *
 * Twins: a second, idle instance of each mock with the same options. The mocks are deterministic, so replaying what
 * the gateway sent upstream against a twin shows exactly what the upstream answered, without touching the mock the
 * gateway uses (its `requests` stay the gateway's alone).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { startNodeServer } from '../../src/runtime/node.ts'
import {
  MOCK_ANTHROPIC_API_KEY,
  startMockAnthropicUpstream,
} from '../helpers/mock-anthropic-upstream.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockOpenAIUpstreamOptions } from '../helpers/mock-openai-upstream.ts'
import type {
  MockUpstream,
  MockUpstreamOptions,
  RecordedRequest,
} from '../helpers/mock-upstream-server.ts'

export const E2E_MASTER_KEY = 'gh-e2e-master-key'
export const COMPAT_API_KEY = 'sk-compat-key'
export const COMPAT_EMBEDDING_MODEL = 'text-embedding-compat'

export type E2EGateway = {
  url: string
  openai: MockUpstream
  anthropic: MockUpstream
  /** An OpenAI-compatible server that answers floats to base64 requests (provider id `compat`). */
  compat: MockUpstream
  /** JSON log lines the gateway wrote. */
  logs: string[]
  openAIClient(options?: { maxRetries?: number; timeout?: number }): OpenAI
  /** `fetch` sees every request the SDK sends (its URL carries `?beta=true` for `client.beta` calls). */
  anthropicClient(options?: { maxRetries?: number; fetch?: typeof fetch }): Anthropic
  /** What the upstream answered to `request` (replayed against the twin, non-streaming). */
  upstreamAnswer(
    upstream: 'openai' | 'anthropic',
    request: RecordedRequest
  ): Promise<Record<string, unknown>>
  /**
   * Starts another instance of the gateway on the same folder and environment: the same SQLite store (tenants, keys,
   * stored responses), the same upstreams. Closed with this one.
   */
  startAnotherInstance(): Promise<{ url: string }>
  reset(): void
  close(): Promise<void>
}

export const startE2EGateway = async (
  options: {
    openai?: MockOpenAIUpstreamOptions
    anthropic?: MockUpstreamOptions
    /** Also write each usage event as a log line (`USAGE_LOG`), for tests that read them from `logs`. */
    usageLog?: boolean
    /** More entries of the config's `routes` list, as YAML lines (`  - name: x`...). */
    routes?: string[]
  } = {}
): Promise<E2EGateway> => {
  const [openai, openaiTwin, anthropic, anthropicTwin, compat] = await Promise.all([
    startMockOpenAIUpstream(options.openai),
    startMockOpenAIUpstream(options.openai),
    startMockAnthropicUpstream(options.anthropic),
    startMockAnthropicUpstream(options.anthropic),
    startMockOpenAIUpstream({
      apiKey: COMPAT_API_KEY,
      ignoreBase64: true,
      models: [COMPAT_EMBEDDING_MODEL],
    }),
  ])
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'))
  // Short retry back-off keeps the suite fast; every other setting is the shipped default.
  const configYaml = [
    'retry:',
    '  initialDelayMs: 5',
    '  maxDelayMs: 20',
    'providers:',
    '  compat:',
    '    type: openai-compatible',
    `    apiKey: ${COMPAT_API_KEY}`,
    `    baseUrl: ${compat.baseUrl}`,
    'routes:',
    '  - name: smart',
    '    targets: [{ provider: openai, model: gpt-4o }, { provider: anthropic, model: claude-opus-4-7 }]',
    ...(options.routes ?? []),
  ].join('\n')
  writeFileSync(join(cwd, 'gatehouse.yaml'), `${configYaml}\n`)
  const logs: string[] = []
  const env = {
    OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
    OPENAI_BASE_URL: openai.baseUrl,
    ANTHROPIC_API_KEY: MOCK_ANTHROPIC_API_KEY,
    ANTHROPIC_BASE_URL: anthropic.baseUrl,
    GATEHOUSE_MASTER_KEY: E2E_MASTER_KEY,
    GATEHOUSE_CONFIG: 'gatehouse.yaml',
    HOST: '127.0.0.1',
    PORT: '0',
    ...(options.usageLog === true ? { USAGE_LOG: 'true' } : {}),
  }
  const start = () => startNodeServer({ cwd, stdout: (line) => logs.push(line), env })
  const server = await start()
  const others: Awaited<ReturnType<typeof start>>[] = []
  const mocks = [openai, openaiTwin, anthropic, anthropicTwin, compat]

  return {
    url: server.url,
    openai,
    anthropic,
    compat,
    logs,
    openAIClient: (client = {}) =>
      new OpenAI({
        apiKey: E2E_MASTER_KEY,
        baseURL: `${server.url}/v1`,
        maxRetries: client.maxRetries ?? 0,
        timeout: client.timeout,
      }),
    anthropicClient: (client = {}) =>
      new Anthropic({
        apiKey: E2E_MASTER_KEY,
        baseURL: server.url,
        maxRetries: client.maxRetries ?? 0,
        fetch: client.fetch,
      }),
    upstreamAnswer: async (upstream, request) => {
      const twin = upstream === 'openai' ? openaiTwin : anthropicTwin
      const auth: Record<string, string> =
        upstream === 'openai'
          ? { authorization: `Bearer ${MOCK_OPENAI_API_KEY}` }
          : { 'x-api-key': MOCK_ANTHROPIC_API_KEY, 'anthropic-version': '2023-06-01' }
      const response = await fetch(`${twin.origin}${request.path}`, {
        method: request.method,
        headers: { ...auth, 'content-type': 'application/json' },
        body:
          request.method === 'GET'
            ? undefined
            : JSON.stringify({ ...(request.body as object), stream: false }),
      })
      return (await response.json()) as Record<string, unknown>
    },
    startAnotherInstance: async () => {
      const other = await start()
      others.push(other)
      return { url: other.url }
    },
    reset: () => {
      for (const mock of mocks) mock.reset()
    },
    close: async () => {
      await Promise.all(others.map((other) => other.close()))
      await server.close()
      await Promise.all(mocks.map((mock) => mock.close()))
      rmSync(cwd, { recursive: true, force: true })
    },
  }
}

/** Drops the fields that legitimately differ between two answers to the same request (ids, timestamps). */
/**
 * A new tenant named `tenant` with one key, made through the admin API of the gateway at `url` with the master key;
 * resolves with the key (shown once, at creation).
 */
export const createTenantKey = async (url: string, tenant: string): Promise<string> => {
  const admin = async (path: string, body: Record<string, unknown>) => {
    const response = await fetch(`${url}/admin/v1/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${E2E_MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    expect(response.status).toBe(201)
    return (await response.json()) as Record<string, unknown>
  }
  await admin('tenants', { name: tenant })
  return String((await admin('keys', { tenant, name: 'app' })).key)
}

export const withoutIdentity = <T extends Record<string, unknown>>(
  value: T
): Omit<T, 'id' | 'created'> => {
  const { id: _id, created: _created, ...rest } = value
  return rest
}
