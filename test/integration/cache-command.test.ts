/**
 * `npx gatehouse cache warm|purge` as users run them: the built bin (`buildPrivateBin`) as a child process against a
 * real Node gateway with the prompt cache on (memory), in front of mock OpenAI and Anthropic upstreams. Warming a file
 * with a tenant's key (a malformed line, a refused one and uncacheable ones among good ones) stores what it can for
 * that tenant only, reports every line and exits 1; warming again hits without an upstream call; purges by tenant, key,
 * model and all make the next requests miss. No key appears in any output.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPrivateBin } from '../helpers/build-private-bin.ts'
import {
  MOCK_ANTHROPIC_API_KEY,
  startMockAnthropicUpstream,
} from '../helpers/mock-anthropic-upstream.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

let bin = ''
const masterKey = 'gh-cache-command-test-master-key'
let openai: MockUpstream
let anthropic: MockUpstream
let gateway: Awaited<ReturnType<typeof startTestGateway>>
let folder = ''
let tenantKey = ''

beforeAll(async () => {
  bin = buildPrivateBin({ name: 'gatehouse-cache-command-test', needs: 'src/cli/cache-command.js' })
  ;[openai, anthropic] = await Promise.all([
    startMockOpenAIUpstream(),
    startMockAnthropicUpstream(),
  ])
  gateway = await startTestGateway({
    config: ['retry: { maxRetries: 0 }', 'cache: { enabled: true }'],
    env: {
      GATEHOUSE_MASTER_KEY: masterKey,
      OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
      OPENAI_BASE_URL: openai.baseUrl,
      ANTHROPIC_API_KEY: MOCK_ANTHROPIC_API_KEY,
      ANTHROPIC_BASE_URL: anthropic.baseUrl,
    },
  })
  folder = mkdtempSync(join(tmpdir(), 'gatehouse-warm-'))
  const admin = async (path: string, body: Record<string, unknown>) => {
    const response = await fetch(`${gateway.url}/admin/v1/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    expect(response.status).toBe(201)
    return (await response.json()) as Record<string, unknown>
  }
  await admin('tenants', { name: 'acme' })
  tenantKey = String((await admin('keys', { tenant: 'acme' })).key)
}, 300_000)

afterAll(async () => {
  await gateway?.close()
  await Promise.all([openai?.close(), anthropic?.close()])
  if (gateway) rmSync(gateway.cwd, { recursive: true, force: true })
  if (folder) rmSync(folder, { recursive: true, force: true })
})

type Run = { code: number | null; stdout: string; stderr: string }

const gatehouse = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: folder,
      env: {
        PATH: process.env.PATH ?? '',
        GATEHOUSE_URL: gateway.url,
        GATEHOUSE_MASTER_KEY: masterKey,
        GATEHOUSE_API_KEY: tenantKey,
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

const expectNoKeys = (run: Run): void => {
  for (const key of [tenantKey, masterKey, 'gh-from-the-file'])
    expect(`${run.stdout}${run.stderr}`).not.toContain(key)
}

const chatBody = (content: string) => ({
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user', content }],
})
const messagesBody = (content: string) => ({
  model: 'anthropic/claude-haiku-4-5-20251001',
  max_tokens: 64,
  messages: [{ role: 'user', content }],
})

const writeLines = (name: string, lines: string[]): string => {
  writeFileSync(join(folder, name), `${lines.join('\n')}\n`)
  return name
}

/** Each file's prompts are its own: the gateway's cache lives as long as the suite. */
const goodLines = (label: string) => [
  JSON.stringify({ ...chatBody(`${label} chat`), stream: true }),
  JSON.stringify({
    path: '/v1/messages',
    body: { ...messagesBody(`${label} messages`), stream: true },
  }),
]

/** What a client of tenant `key` is told by the cache for the same requests, streamed as an SDK would. */
const clientSees = async (label: string, key = tenantKey): Promise<(string | null)[]> => {
  const chat = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...chatBody(`${label} chat`), stream: true }),
  })
  await chat.text()
  const messages = await fetch(`${gateway.url}/v1/messages`, {
    method: 'POST',
    headers: {
      'x-api-key': key,
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
    },
    body: JSON.stringify({ ...messagesBody(`${label} messages`), stream: true }),
  })
  await messages.text()
  return [chat.headers.get('x-gatehouse-cache'), messages.headers.get('x-gatehouse-cache')]
}

const upstreamCalls = (): number =>
  openai.requests.filter((request) => request.path === '/v1/chat/completions').length +
  anthropic.requests.filter((request) => request.path === '/v1/messages').length

/** Warms `file` until every good line hits (a miss's answer is stored just after its response). */
const warmUntilHit = async (file: string): Promise<Run> => {
  for (let tries = 0; ; tries += 1) {
    const run = await gatehouse(['cache', 'warm', file])
    if (/already cached \(hit\) +2$/m.test(run.stdout) || tries > 50) return run
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('gatehouse cache warm', () => {
  it('stores good lines for the key’s tenant, reports the others by line number, and exits 1', async () => {
    const file = writeLines('requests.jsonl', [
      ...goodLines('first'),
      '{"model": "openai/gpt-4o-mini", "messages": [',
      '',
      JSON.stringify({ ...chatBody('first several'), n: 2 }),
      JSON.stringify({
        path: '/v1/chat/completions',
        body: chatBody('first no-store'),
        headers: { 'cache-control': 'no-store' },
      }),
      JSON.stringify({ path: '/v1/models', body: {} }),
      JSON.stringify({ model: 'openai/gpt-4o-mini' }),
      JSON.stringify({
        path: '/v1/chat/completions',
        body: chatBody('first keyed'),
        headers: { authorization: 'Bearer gh-from-the-file' },
      }),
    ])
    const calls = upstreamCalls()
    const run = await gatehouse(['cache', 'warm', file, '--concurrency', '2'])
    expectNoKeys(run)
    expect(run.code).toBe(1)
    expect(run.stderr).toBe('gatehouse: 4 of 8 requests failed\n')
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines.slice(0, 5)).toEqual([
      'requests.jsonl: 8 requests, 5 sent',
      '  stored (miss)          2',
      '  already cached (hit)   0',
      '  bypassed (not cached)  2',
      '  failed                 4',
    ])
    expect(lines.slice(5)).toEqual([
      expect.stringMatching(/^line 3: failed: not JSON \(/),
      'line 5: bypassed: not cacheable (its parameters or headers)',
      'line 6: bypassed: not cacheable (its parameters or headers)',
      'line 7: failed: `path` must be one of /v1/chat/completions, /v1/messages, /v1/embeddings, /v1/responses, not "/v1/models"',
      expect.stringMatching(/^line 8: failed: .*messages.* \(HTTP 400, field messages\)$/),
      'line 9: failed: `headers` may not set authorization: the key is the one given to the command (--api-key or GATEHOUSE_API_KEY)',
    ])
    // Two misses, two bypasses and one refusal by the gateway itself: four upstream calls.
    expect(upstreamCalls()).toBe(calls + 4)

    // Entries are the tenant's: its clients hit, streamed, while the master key's scope is untouched.
    const again = await warmUntilHit(writeLines('good.jsonl', goodLines('first')))
    expect(again).toMatchObject({ code: 0, stderr: '' })
    expect(again.stdout).toMatch(/^ {2}stored \(miss\) +0$/m)
    const before = upstreamCalls()
    expect(await clientSees('first')).toEqual(['hit', 'hit'])
    expect(upstreamCalls()).toBe(before)
    expect(await clientSees('first', masterKey)).toEqual(['miss', 'miss'])
  })

  it('prints every line with its cache key as JSON', async () => {
    const file = writeLines('json.jsonl', [...goodLines('json'), '{'])
    const run = await gatehouse(['cache', 'warm', file, '--json'])
    expectNoKeys(run)
    expect(run.code).toBe(1)
    const summary = JSON.parse(run.stdout) as Record<string, unknown>
    expect(summary).toEqual({
      object: 'cache.warm',
      file: 'json.jsonl',
      requests: 3,
      sent: 2,
      miss: 2,
      hit: 0,
      bypass: 0,
      failed: 1,
      lines: [
        { line: 1, outcome: 'miss', status: 200, key: expect.stringMatching(/^[0-9a-f]{64}$/) },
        { line: 2, outcome: 'miss', status: 200, key: expect.stringMatching(/^[0-9a-f]{64}$/) },
        { line: 3, outcome: 'failed', reason: expect.stringMatching(/^not JSON/) },
      ],
    })
  })

  it('refuses a wrong command line, a missing key and an unreadable file', async () => {
    const file = writeLines('one.jsonl', goodLines('refusals').slice(0, 1))
    for (const [args, message] of [
      [['cache', 'warm'], /missing <file>/],
      [['cache', 'warm', file, '--concurrency', '0'], /--concurrency: a whole number from 1 to 64/],
      [['cache', 'warm', file, '--concurrency', 'many'], /--concurrency: "many" is not a number/],
      [['cache', 'heat'], /unknown cache command: heat/],
    ] as const) {
      const run = await gatehouse([...args])
      expect([args.join(' '), run.code]).toEqual([args.join(' '), 2])
      expect(run.stderr).toMatch(message)
    }
    const noKey = await gatehouse(['cache', 'warm', file], { GATEHOUSE_API_KEY: '' })
    expect(noKey.code).toBe(1)
    expect(noKey.stderr).toMatch(/^gatehouse: set GATEHOUSE_API_KEY \(or pass --api-key\)/)
    const missing = await gatehouse(['cache', 'warm', 'nowhere.jsonl'])
    expect(missing).toMatchObject({
      code: 1,
      stderr: 'gatehouse: cannot read nowhere.jsonl: ENOENT\n',
    })
    const wrongKey = await gatehouse(['cache', 'warm', file, '--api-key', 'gh-wrong'])
    expect(wrongKey.code).toBe(1)
    expect(wrongKey.stdout).toMatch(/^line 1: failed: .* \(HTTP 401\)$/m)
    // Warming needs no master key; the key given on the command line is not echoed either.
    const withoutMaster = await gatehouse(['cache', 'warm', file, '--api-key', tenantKey], {
      GATEHOUSE_MASTER_KEY: '',
      GATEHOUSE_API_KEY: '',
    })
    expectNoKeys(withoutMaster)
    expect(withoutMaster.code).toBe(0)
  })
})

describe('gatehouse cache purge', () => {
  it('purges by tenant, key, model and all: the next requests miss', async () => {
    const file = writeLines('purge.jsonl', goodLines('purge'))
    await warmUntilHit(file)

    const byTenant = await gatehouse(['cache', 'purge', '--tenant', 'acme'])
    expect(byTenant).toEqual({
      code: 0,
      stdout: expect.stringMatching(/^Purged \d+ entries of acme\.\n$/),
      stderr: '',
    })
    expect(await clientSees('purge')).toEqual(['miss', 'miss'])

    const warmed = await warmUntilHit(file)
    expect(warmed.code).toBe(0)
    const keys = JSON.parse((await gatehouse(['cache', 'warm', file, '--json'])).stdout) as {
      lines: { key: string }[]
    }
    const byKey = await gatehouse(['cache', 'purge', '--key', keys.lines[0].key])
    expect(byKey).toEqual({
      code: 0,
      stdout: `Purged 1 entry under key ${keys.lines[0].key}.\n`,
      stderr: '',
    })
    expect(await clientSees('purge')).toEqual(['miss', 'hit'])

    await warmUntilHit(file)
    const byModel = await gatehouse([
      'cache',
      'purge',
      '--model',
      'anthropic/claude-haiku-4-5-20251001',
      '--json',
    ])
    expect(byModel.code).toBe(0)
    expect(JSON.parse(byModel.stdout)).toMatchObject({
      object: 'cache.purge',
      selector: { model: 'anthropic/claude-haiku-4-5-20251001' },
    })
    expect(await clientSees('purge')).toEqual(['hit', 'miss'])

    await warmUntilHit(file)
    const all = await gatehouse(['cache', 'purge', '--all'])
    expect(all).toMatchObject({ code: 0, stderr: '' })
    expect(all.stdout).toMatch(/^Purged \d+ entries: the whole cache\.\n$/)
    expect(await clientSees('purge')).toEqual(['miss', 'miss'])
    const empty = await gatehouse(['cache', 'purge', '--all', '--json'])
    expect(JSON.parse(empty.stdout)).toMatchObject({ deleted: expect.any(Number) })
  })

  it("prints the gateway's refusals as one line, and refuses a wrong command line", async () => {
    expect(await gatehouse(['cache', 'purge', '--tenant', 'nobody'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: No tenant has the id or name "nobody". (HTTP 404, field tenant)\n',
    })
    const model = await gatehouse(['cache', 'purge', '--model', 'gpt-4o-mini'])
    expect(model.code).toBe(1)
    expect(model.stderr).toMatch(/provider\/model.*\(HTTP 400, field model\)\n$/)
    const noMaster = await gatehouse(['cache', 'purge', '--all'], { GATEHOUSE_MASTER_KEY: '' })
    expect(noMaster).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^gatehouse: set GATEHOUSE_MASTER_KEY/),
    })
    const tenantKeyPurge = await gatehouse(['cache', 'purge', '--all'], {
      GATEHOUSE_MASTER_KEY: tenantKey,
    })
    expectNoKeys(tenantKeyPurge)
    expect(tenantKeyPurge.code).toBe(1)
    expect(tenantKeyPurge.stderr).toMatch(/master key only.*\(HTTP 403\)\n$/)
    for (const [args, message] of [
      [['cache', 'purge'], /what to purge\?/],
      [['cache', 'purge', '--all', '--tenant', 'acme'], /not --tenant and --all/],
      [['cache', 'purge', '--key'], /--key/],
      [['cache'], /which cache command\?/],
    ] as const) {
      const run = await gatehouse([...args])
      expect([args.join(' '), run.code]).toEqual([args.join(' '), 2])
      expect(run.stderr).toMatch(message)
    }
  })

  it('documents the commands in --help', async () => {
    const help = await gatehouse(['--help'])
    expect(help.stdout).toMatch(/^ {2}cache +Purge the prompt cache, or warm it/m)
    const cache = await gatehouse(['cache', '--help'])
    expect(cache.stdout).toMatch(/^gatehouse cache purge --key <key>/)
    expect(cache.stdout).toContain('GATEHOUSE_API_KEY')
  })
})
