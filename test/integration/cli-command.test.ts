/**
 * `npx gatehouse tenants|keys|usage` as users run them: the bin over the real build (built into a private directory,
 * as `node-server.test.ts` explains), as a child process, against a real Node gateway (`startTestGateway`, SQLite in
 * its own folder) talking to a mock OpenAI upstream. Creates, lists, rotates and revokes with `--json`, presents the
 * keys to the gateway, reads back the usage of a real chat completion, and checks what a failure looks like.
 */
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPrivateBin } from '../helpers/build-private-bin.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

let bin = ''
const masterKey = 'gh-cli-command-test-master-key'

let upstream: MockUpstream
let gateway: Awaited<ReturnType<typeof startTestGateway>>

beforeAll(async () => {
  bin = buildPrivateBin({ name: 'gatehouse-cli-command-test', needs: 'src/cli/run-cli.js' })

  upstream = await startMockOpenAIUpstream()
  // Usage is written in batches; a short interval lets the test read it back without waiting a second.
  gateway = await startTestGateway({
    config: ['usage: { flushIntervalMs: 20 }'],
    env: {
      GATEHOUSE_MASTER_KEY: masterKey,
      OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
      OPENAI_BASE_URL: upstream.baseUrl,
    },
  })
}, 300_000)

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
  if (gateway) rmSync(gateway.cwd, { recursive: true, force: true })
})

/** A port nothing listens on: one the system just gave out, closed again. */
const closedPort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

type Run = { code: number | null; stdout: string; stderr: string }

/** The bin as a child process: asynchronous, since the gateway it calls runs in this process. */
const gatehouse = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: gateway.cwd,
      env: {
        PATH: process.env.PATH ?? '',
        GATEHOUSE_URL: gateway.url,
        GATEHOUSE_MASTER_KEY: masterKey,
        ...env,
      },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })

const json = async <T = Record<string, unknown>>(...args: string[]): Promise<T> => {
  const run = await gatehouse([...args, '--json'])
  expect(run, args.join(' ')).toMatchObject({ code: 0, stderr: '' })
  return JSON.parse(run.stdout) as T
}

/** The status `GET /v1/usage` answers a client presenting `key`. */
const usageStatus = async (key: string): Promise<number> => {
  const response = await fetch(`${gateway.url}/v1/usage`, {
    headers: { authorization: `Bearer ${key}` },
  })
  await response.body?.cancel()
  return response.status
}

type Key = { id: string; key?: string; status: string; tenant_id: string; name: string }

describe('gatehouse tenants, keys and usage against a running gateway', () => {
  it('creates, lists, rotates and revokes', async () => {
    const tenant = await json('tenants', 'create', 'acme', '--rpm', '600')
    expect(tenant).toMatchObject({ object: 'tenant', name: 'acme', limits: { rpm: 600 } })
    const tenants = await json<{ data: { name: string }[] }>('tenants', 'list')
    expect(tenants.data.map((item) => item.name)).toEqual(['acme'])

    const before = Date.now()
    const created = await json<Key & { expires_at: string; budget: unknown; limits: unknown }>(
      'keys',
      'create',
      '--tenant',
      'acme',
      '--rpm',
      '60',
      '--tpm',
      '100000',
      '--budget-usd',
      '50',
      '--budget-period',
      'month',
      '--models',
      'openai/*',
      '--expires',
      '30d',
      '--name',
      'ci'
    )
    expect(created).toMatchObject({
      tenant_id: tenant.id,
      name: 'ci',
      status: 'active',
      limits: { rpm: 60, tpm: 100_000, concurrency: null },
      budget: { usd: 50, micro_usd: 50_000_000, period: 'month' },
      allowed_models: ['openai/*'],
    })
    expect(created.key).toMatch(/^gh-[0-9A-Za-z]{43}$/)
    const expiresIn = Date.parse(created.expires_at) - before
    expect(expiresIn).toBeGreaterThanOrEqual(30 * 86_400_000)
    expect(expiresIn).toBeLessThan(30 * 86_400_000 + 60_000)

    const listed = await json<{ data: Key[] }>('keys', 'list', '--tenant', 'acme')
    expect(listed.data.map((key) => [key.id, key.name, key.status])).toEqual([
      [created.id, 'ci', 'active'],
    ])
    expect(listed.data[0]).not.toHaveProperty('key')

    const rotated = await json<Key & { previous_secrets_valid_until: string }>(
      'keys',
      'rotate',
      created.id,
      '--grace',
      '1d'
    )
    expect(rotated.id).toBe(created.id)
    expect(rotated.key).toMatch(/^gh-/)
    expect(rotated.key).not.toBe(created.key)
    const grace = Date.parse(rotated.previous_secrets_valid_until) - before
    expect(grace).toBeGreaterThanOrEqual(86_400_000)
    expect(grace).toBeLessThan(86_400_000 + 60_000)

    // The keys work against the gateway until the revocation, and not a moment after it.
    expect(await usageStatus(created.key!)).toBe(200)
    expect(await usageStatus(rotated.key!)).toBe(200)
    const revoked = await json<Key>('keys', 'revoke', created.id)
    expect(revoked.status).toBe('revoked')
    expect(await usageStatus(created.key!)).toBe(401)
    expect(await usageStatus(rotated.key!)).toBe(401)
    expect((await json<{ data: Key[] }>('keys', 'list', '--tenant', 'acme')).data).toEqual([])
    const all = await json<{ data: Key[] }>('keys', 'list', '--all')
    expect(all.data.map((key) => [key.id, key.status])).toEqual([[created.id, 'revoked']])
  })

  it('reads back the usage of a chat completion, by model, as JSON and CSV', async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }),
    })
    expect(response.status).toBe(200)
    const answer = (await response.json()) as {
      usage: { prompt_tokens: number; completion_tokens: number }
    }

    type Row = Record<string, unknown>
    let rows: Row[] = []
    for (let attempt = 0; attempt < 100 && rows.length === 0; attempt += 1) {
      rows = (
        await json<{ data: Row[] }>(
          'usage',
          '--since',
          '1h',
          '--by',
          'model',
          '--model',
          'gpt-4o-mini'
        )
      ).data
      if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(rows).toEqual([
      expect.objectContaining({
        model: 'gpt-4o-mini',
        requests: 1,
        input_tokens: answer.usage.prompt_tokens,
        output_tokens: answer.usage.completion_tokens,
      }),
    ])
    const csv = await gatehouse([
      'usage',
      '--since',
      '1h',
      '--by',
      'model',
      '--model',
      'gpt-4o-mini',
      '--csv',
    ])
    expect(csv.code).toBe(0)
    const [header, line] = csv.stdout.split('\r\n')
    expect(header).toBe(Object.keys(rows[0]).join(','))
    expect(line.startsWith('gpt-4o-mini,1,0,0,')).toBe(true)
  })

  it('shows a failure as one line with a non-zero exit code', async () => {
    await json('tenants', 'create', 'taken')
    expect(await gatehouse(['tenants', 'create', 'taken'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: A tenant named "taken" exists already. (HTTP 409, field name)\n',
    })
    const wrongKey = await gatehouse(['tenants', 'list'], { GATEHOUSE_MASTER_KEY: 'gh-wrong' })
    expect(wrongKey).toMatchObject({ code: 1, stderr: 'gatehouse: Invalid API key. (HTTP 401)\n' })
    const closed = `http://127.0.0.1:${await closedPort()}`
    const unreachable = await gatehouse(['keys', 'list'], { GATEHOUSE_URL: closed })
    expect(unreachable).toMatchObject({
      code: 1,
      stderr: `gatehouse: cannot reach the gateway at ${closed}: ECONNREFUSED (set GATEHOUSE_URL)\n`,
    })
    const badLine = await gatehouse(['keys', 'create', '--tenant', 'taken', '--tpm', 'lots'])
    expect(badLine.code).toBe(2)
    expect(badLine.stderr).toMatch(/^gatehouse: --tpm: "lots" is not a number/)
  })

  it('documents the commands in --help', async () => {
    const help = await gatehouse(['--help'])
    expect(help.code).toBe(0)
    for (const name of ['tenants', 'keys', 'usage', 'cache', 'models'])
      expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'))
    const keys = await gatehouse(['keys', '--help'])
    expect(keys.stdout).toMatch(/^gatehouse keys create --tenant <tenant>/)
    expect(keys.stdout).toContain('--grace')
  })
})
