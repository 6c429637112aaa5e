/**
 * The CLI's commands (`runCli`) against the whole app in process: its `fetch` is `app.request`, so every command
 * goes through the real admin routes and stores, without a socket. What a person sees (tables, the key shown once,
 * one-line errors and exit codes) and what a script reads (`--json`, `--csv`: the gateway's answer as it is).
 * test/integration/cli-command.test.ts runs the built `gatehouse` bin against a served gateway.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { runCli } from '../../src/cli/run-cli.ts'
import {
  createAdminTestApp,
  masterKey,
  type AdminTestApp,
} from '../helpers/create-admin-test-app.ts'

let t: AdminTestApp
let cli: (...argv: string[]) => Promise<{ code: number; stdout: string; stderr: string }>

beforeEach(async () => {
  t = await createAdminTestApp()
  const app = createApp(t.deps)
  cli = async (...argv) => {
    let stdout = ''
    let stderr = ''
    const code = await runCli(argv, {
      env: { GATEHOUSE_URL: 'http://gateway.test/', GATEHOUSE_MASTER_KEY: masterKey },
      fetch: async (input, init) => app.request(input instanceof URL ? input.href : input, init),
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      now: () => t.deps.clock.now(),
    })
    return { code, stdout, stderr }
  }
})

afterEach(async () => {
  await t.close()
})

const ok = async (...argv: string[]): Promise<string> => {
  const result = await cli(...argv)
  expect(result, argv.join(' ')).toMatchObject({ code: 0, stderr: '' })
  return result.stdout
}

const okJson = async <T = Record<string, unknown>>(...argv: string[]): Promise<T> =>
  JSON.parse(await ok(...argv, '--json')) as T

describe('gatehouse tenants', () => {
  it('creates a tenant with its settings and shows it', async () => {
    const output = await ok(
      'tenants',
      'create',
      'acme',
      '--rpm',
      '60',
      '--budget-usd',
      '50',
      '--budget-period',
      'month',
      '--models',
      'openai/*,anthropic/claude-*',
      '--metadata',
      'owner=team-a'
    )
    expect(output).toContain('Created tenant acme.')
    expect(output).toMatch(/^rpm: +60$/m)
    expect(output).toMatch(/^budget: +\$50\/month$/m)
    expect(output).toMatch(/^models: +openai\/\*,anthropic\/claude-\*$/m)
    expect(output).toMatch(/^metadata: +owner=team-a$/m)
    const stored = await t.stores.tenants.getTenantByName('acme')
    expect(stored).toMatchObject({
      limits: { rpm: 60, tpm: null, concurrency: null },
      budget: { microUsd: 50_000_000, period: 'month' },
      allowedModels: ['openai/*', 'anthropic/claude-*'],
      metadata: { owner: 'team-a' },
    })
  })

  it('prints the API answer with --json, lists as a table, disables and enables', async () => {
    const created = await okJson('tenants', 'create', 'acme')
    expect(created).toMatchObject({ object: 'tenant', name: 'acme', disabled: false })
    await ok('tenants', 'create', 'beta', '--tpm', '1000')
    const table = (await ok('tenants', 'list')).split('\n')
    expect(table[0]).toMatch(/^NAME +ID +STATUS +RPM +TPM +CONCURRENCY +BUDGET +MODELS$/)
    expect(table[1]).toMatch(new RegExp(`^acme +${String(created.id)} +active +- +- +- +- +all$`))
    expect(table[2]).toMatch(/^beta +ten_\w+ +active +- +1000 +- +- +all$/)

    expect(await ok('tenants', 'disable', 'acme')).toBe(
      'Disabled tenant acme: its keys are refused.\n'
    )
    expect((await okJson<{ data: unknown[] }>('tenants', 'list')).data).toHaveLength(1)
    expect((await okJson<{ data: unknown[] }>('tenants', 'list', '--all')).data).toHaveLength(2)
    expect(await ok('tenants', 'enable', String(created.id))).toBe('Enabled tenant acme.\n')

    const updated = await okJson('tenants', 'update', 'acme', '--rpm', '5', '--name', 'acme-corp')
    expect(updated).toMatchObject({ name: 'acme-corp', limits: { rpm: 5 } })
    expect(await okJson('tenants', 'show', 'acme-corp')).toEqual(updated)
  })

  it('prints a refusal from the gateway as one line naming the option (or else the field), exit code 1', async () => {
    await ok('tenants', 'create', 'acme')
    expect(await cli('tenants', 'create', 'acme')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: A tenant named "acme" exists already. (HTTP 409, field name)\n',
    })
    const negative = await cli('tenants', 'create', 'other', '--rpm=-1')
    expect(negative.code).toBe(1)
    expect(negative.stderr).toBe(
      'gatehouse: --rpm: Too small: expected number to be >0 (HTTP 400)\n'
    )
    // Two options refused at once are both named; a field no option gave (the name, given bare) stays a field.
    const fractions = await cli('tenants', 'create', 'other', '--rpm', '1.5', '--tpm', '2.5')
    expect(fractions.stderr).toMatch(/^gatehouse: --rpm: .*; --tpm: .* \(HTTP 400\)\n$/)
    const period = await cli(
      'tenants',
      'update',
      'acme',
      '--budget-usd',
      '5',
      '--budget-period',
      'fortnight'
    )
    expect(period.stderr).toMatch(/^gatehouse: --budget-period: .*"month".* \(HTTP 400\)\n$/)
    expect(await cli('tenants', 'create', '--bad name')).toMatchObject({ code: 2 })
    expect((await cli('tenants', 'create', 'bad name')).stderr).toMatch(
      /\(HTTP 400, field name\)\n$/
    )
    const unknown = await cli('tenants', 'show', 'nobody')
    expect(unknown.stderr).toBe(
      'gatehouse: No tenant has the id or name "nobody". (HTTP 404, field tenant)\n'
    )
  })

  it('refuses a wrong command line before calling the gateway, exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['tenants', 'create', 'x', '--rpm', 'ten'], /--rpm: "ten" is not a number/],
      [['tenants', 'create', 'x', '--rpm', '0x10'], /--rpm: "0x10" is not a number/],
      [['keys', 'create', '--tenant', 'x', '--tpm', '0b11'], /--tpm: "0b11" is not a number/],
      [
        ['tenants', 'create', 'x', '--budget-usd', 'Infinity', '--budget-period', 'day'],
        /--budget-usd: "Infinity" is not a number/,
      ],
      [
        ['tenants', 'create', 'x', '--budget-usd', '5'],
        /--budget-usd and --budget-period go together/,
      ],
      [['tenants', 'create'], /missing <name>/],
      [['tenants', 'create', 'x', '--color', 'red'], /Unknown option '--color'/],
      [['tenants', 'explode'], /unknown tenants command: explode/],
      [['tenants', 'update', 'x'], /nothing to change/],
    ]
    for (const [argv, message] of cases) {
      const result = await cli(...argv)
      expect([argv.join(' '), result.code]).toEqual([argv.join(' '), 2])
      expect(result.stderr).toMatch(message)
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1)
    }
    expect(await t.stores.tenants.listTenants({ includeDisabled: true })).toEqual([])
  })

  it('needs the master key', async () => {
    const app = createApp(t.deps)
    let stderr = ''
    const code = await runCli(['tenants', 'list'], {
      env: {},
      fetch: async (input, init) => app.request(String(input), init),
      stdout: () => {},
      stderr: (text) => (stderr += text),
    })
    expect(code).toBe(1)
    expect(stderr).toMatch(/^gatehouse: set GATEHOUSE_MASTER_KEY/)
  })
})

describe('gatehouse keys', () => {
  beforeEach(async () => {
    await ok('tenants', 'create', 'acme')
  })

  it('creates a key with every setting and shows the key once', async () => {
    const output = await ok(
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
    const keys = output.match(/gh-[0-9A-Za-z]{43}/g)
    expect(keys).toHaveLength(1)
    expect(output).toContain('shown only this once')
    expect(output).toMatch(/^expires: +2026-01-31T00:00:00.000Z$/m)
    const [key] = await t.stores.tenants.listKeys(
      (await t.stores.tenants.getTenantByName('acme'))!.id
    )
    expect(key).toMatchObject({
      name: 'ci',
      limits: { rpm: 60, tpm: 100_000, concurrency: null },
      budget: { microUsd: 50_000_000, period: 'month' },
      allowedModels: ['openai/*'],
      expiresAt: Date.UTC(2026, 0, 31),
    })
    const listed = await ok('keys', 'list', '--tenant', 'acme')
    expect(listed).toContain(key.id)
    expect(listed).not.toContain(keys![0])
  })

  it('lists, revokes and rotates, with --json giving the API answer', async () => {
    const first = await okJson<{ id: string; key: string }>(
      'keys',
      'create',
      '--tenant',
      'acme',
      '--name',
      'one'
    )
    // Keys list oldest first: a moment apart, so the order is theirs and not their random ids'.
    await t.deps.clock.advance(1)
    const second = await okJson<{ id: string; key: string }>(
      'keys',
      'create',
      '--tenant',
      'acme',
      '--name',
      'two'
    )
    expect(first.key).toMatch(/^gh-/)

    const table = (await ok('keys', 'list', '--tenant', 'acme')).split('\n')
    expect(table[0]).toMatch(
      /^ID +NAME +PREFIX +STATUS +TENANT +RPM +TPM +BUDGET +MODELS +EXPIRES$/
    )
    expect(table.slice(1, 3).map((line) => line.split(/ +/)[1])).toEqual(['one', 'two'])

    expect(await ok('keys', 'revoke', first.id)).toBe(`Revoked key ${first.id} (one).\n`)
    expect((await okJson<{ data: unknown[] }>('keys', 'list')).data).toHaveLength(1)
    expect((await okJson<{ data: unknown[] }>('keys', 'list', '--all')).data).toHaveLength(2)

    const rotated = await okJson<{ id: string; key: string; previous_secrets_valid_until: string }>(
      'keys',
      'rotate',
      second.id,
      '--grace',
      '2h'
    )
    expect(rotated.id).toBe(second.id)
    expect(rotated.key).not.toBe(second.key)
    expect(rotated.previous_secrets_valid_until).toBe('2026-01-01T02:00:00.001Z')
    const text = await ok('keys', 'rotate', second.id)
    expect(text).toContain('its previous secret works until 2026-01-02T00:00:00.001Z')
    expect(text.match(/gh-[0-9A-Za-z]{43}/g)).toHaveLength(1)

    const updated = await okJson('keys', 'update', second.id, '--rpm', 'none', '--expires', 'never')
    expect(updated).toMatchObject({ limits: { rpm: null }, expires_at: null })
    expect(await okJson('keys', 'show', second.id)).toEqual(updated)
  })

  it('refuses a key for an unknown tenant, an expiry in the past and a bad grace', async () => {
    expect(await cli('keys', 'create', '--tenant', 'nobody')).toMatchObject({
      code: 1,
      stderr: 'gatehouse: --tenant: No tenant has the id or name "nobody". (HTTP 400)\n',
    })
    const past = await cli(
      'keys',
      'create',
      '--tenant',
      'acme',
      '--expires',
      '2020-01-01T00:00:00Z'
    )
    expect(past).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^gatehouse: --expires: .*in the past.*\(HTTP 400\)\n$/),
    })
    // A duration back from now is a time in the past too, refused as such (not as a malformed time).
    expect(await cli('keys', 'create', '--tenant', 'acme', '--expires=-3d')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^gatehouse: --expires: .*in the past/),
    })
    expect(await cli('keys', 'create', '--tenant', 'acme', '--models', 'nowhere/*')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^gatehouse: --models: `nowhere\/\*` matches no model/),
    })
    // Not a number is said first, whether or not the period came with it.
    expect(await cli('keys', 'create', '--tenant', 'acme', '--budget-usd', 'ten')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--budget-usd: "ten" is not a number/),
    })
    // A UTC date is its midnight.
    const dated = JSON.parse(
      await ok('keys', 'create', '--tenant', 'acme', '--expires', '2027-03-01', '--json')
    ) as { expires_at: string }
    expect(dated.expires_at).toBe('2027-03-01T00:00:00.000Z')
    expect(await cli('keys', 'create')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--tenant is required/),
    })
    expect(await cli('keys', 'rotate', 'key_x', '--grace', 'soon')).toMatchObject({ code: 2 })
    expect(await cli('keys', 'revoke', 'key_nope')).toMatchObject({
      code: 1,
      stderr: 'gatehouse: No key has the id "key_nope". (HTTP 404, field id)\n',
    })
  })
})

describe('gatehouse usage', () => {
  beforeEach(async () => {
    const tenant = await t.stores.tenants.createTenant({ name: 'acme' })
    const base = {
      requestId: 'r',
      tenantId: tenant.id,
      keyId: 'key_a',
      userId: null,
      tags: [],
      operation: 'chat-completions',
      requestedModel: 'gpt-4o',
      provider: 'openai',
      attempts: 1,
      status: 200,
      stream: false,
      error: null,
      cacheWriteTokens: null,
      reasoningTokens: null,
      latencyMs: 40,
      ttfbMs: 10,
      clientAborted: false,
      kind: 'request' as const,
      cache: null,
      savedCostMicroUsd: null,
    }
    await t.stores.usage.record([
      {
        ...base,
        id: 'e1',
        time: Date.UTC(2025, 11, 30, 9),
        model: 'gpt-4o',
        inputTokens: 100,
        outputTokens: 20,
        cachedTokens: 0,
        costMicroUsd: 1_234_500,
      },
      {
        ...base,
        id: 'e2',
        time: Date.UTC(2025, 11, 31, 9),
        model: 'gpt-4o-mini',
        inputTokens: 10,
        outputTokens: 2,
        cachedTokens: null,
        costMicroUsd: null,
      },
      {
        ...base,
        id: 'e3',
        time: Date.UTC(2025, 11, 31, 10),
        tenantId: null,
        keyId: null,
        model: 'gpt-4o',
        inputTokens: 1,
        outputTokens: 1,
        cachedTokens: null,
        costMicroUsd: 1,
      },
    ])
  })

  it('shows usage by model for a tenant as a table, JSON or CSV', async () => {
    const table = (await ok('usage', '--tenant', 'acme', '--since', '7d', '--by', 'model')).split(
      '\n'
    )
    expect(table[0]).toBe('Usage from 2025-12-25T00:00:00.000Z to 2026-01-01T00:00:00.000Z:')
    expect(table[1]).toMatch(
      /^model +requests +errors +input_tokens +output_tokens +cached_tokens +cost_usd$/
    )
    expect(table[2].split(/ +/)).toEqual(['gpt-4o', '1', '0', '100', '20', '0', '1.2345'])
    expect(table[3].split(/ +/)).toEqual(['gpt-4o-mini', '1', '0', '10', '2', '-', '-'])

    const json = await okJson<{ data: Record<string, unknown>[] }>(
      'usage',
      '--tenant',
      'acme',
      '--since',
      '7d',
      '--by',
      'model'
    )
    expect(json.data.map((row) => [row.model, row.cost_micro_usd])).toEqual([
      ['gpt-4o', 1_234_500],
      ['gpt-4o-mini', null],
    ])
    const csv = await ok('usage', '--tenant', 'acme', '--since', '7d', '--by', 'model', '--csv')
    expect(csv.split('\r\n')[0]).toBe(Object.keys(json.data[0]).join(','))
    expect(csv.split('\r\n')).toHaveLength(4)
  })

  it('adds the prompt cache hits and their saving in USD once some request met the cache', async () => {
    const tenant = (await t.stores.tenants.getTenantByName('acme'))!
    const hit = {
      requestId: 'r',
      tenantId: tenant.id,
      keyId: 'key_a',
      userId: null,
      tags: [],
      operation: 'chat-completions',
      requestedModel: 'gpt-4o',
      provider: 'openai',
      model: 'gpt-4o',
      attempts: 0,
      status: 200,
      stream: false,
      error: null,
      inputTokens: 0,
      outputTokens: 0,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      costMicroUsd: 0,
      latencyMs: 1,
      ttfbMs: 1,
      clientAborted: false,
      kind: 'request' as const,
      cache: 'hit' as const,
      savedCostMicroUsd: 1_234_500,
    }
    await t.stores.usage.record([
      { ...hit, id: 'h1', time: Date.UTC(2025, 11, 31, 9) },
      { ...hit, id: 'h2', time: Date.UTC(2025, 11, 31, 9, 5), savedCostMicroUsd: 500 },
    ])
    const table = (await ok('usage', '--tenant', 'acme', '--since', '7d', '--by', 'model')).split(
      '\n'
    )
    expect(table[1]).toMatch(
      /^model +requests +errors +input_tokens +output_tokens +cached_tokens +cost_usd +cache_hits +saved_usd$/
    )
    expect(table[2].split(/ +/)).toEqual([
      'gpt-4o',
      '3',
      '0',
      '100',
      '20',
      '0',
      '1.2345',
      '2',
      '1.235',
    ])
    // A model the cache never answered: no hit, nothing known saved.
    expect(table[3].split(/ +/)).toEqual(['gpt-4o-mini', '1', '0', '10', '2', '-', '-', '0', '-'])
    const json = await okJson<{ data: Record<string, unknown>[] }>('usage', '--tenant', 'acme')
    expect(json.data).toEqual([
      expect.objectContaining({ requests: 4, cache_hits: 2, saved_cost_micro_usd: 1_235_000 }),
    ])
  })

  it('adds the estimated requests and their part of the cost in USD once some row has one', async () => {
    const tenant = (await t.stores.tenants.getTenantByName('acme'))!
    await t.stores.usage.record([
      {
        id: 'cut1',
        kind: 'request',
        time: Date.UTC(2025, 11, 31, 10),
        requestId: 'r-cut',
        tenantId: tenant.id,
        keyId: 'key_a',
        userId: null,
        tags: [],
        operation: 'chat-completions',
        requestedModel: 'gpt-4o-mini',
        provider: 'openai',
        model: 'gpt-4o-mini',
        attempts: 1,
        status: 200,
        stream: true,
        error: 'The client closed the request.',
        inputTokens: 40,
        outputTokens: 12,
        cachedTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: null,
        costMicroUsd: 13,
        latencyMs: 1,
        ttfbMs: 1,
        clientAborted: true,
        cache: null,
        savedCostMicroUsd: null,
        estimated: true,
      },
    ])
    const table = (await ok('usage', '--tenant', 'acme', '--since', '7d', '--by', 'model')).split(
      '\n'
    )
    expect(table[1]).toMatch(/ +cost_usd +estimated +estimated_usd$/)
    expect(
      table
        .find((line) => line.startsWith('gpt-4o-mini'))!
        .split(/ +/)
        .slice(-3)
    ).toEqual(['0.000013', '1', '0.000013'])
    expect(
      table
        .find((line) => line.startsWith('gpt-4o '))!
        .split(/ +/)
        .slice(-2)
    ).toEqual(['0', '-'])
  })

  it('buckets by day with --by day, and refuses two buckets', async () => {
    const json = await okJson<{ granularity: string; data: Record<string, unknown>[] }>(
      'usage',
      '--since',
      '2025-12-01',
      '--by',
      'day,tenant'
    )
    expect(json.granularity).toBe('day')
    expect(json.data.map((row) => [row.bucket_start, row.requests])).toEqual([
      ['2025-12-30T00:00:00.000Z', 1],
      ['2025-12-31T00:00:00.000Z', 1],
      ['2025-12-31T00:00:00.000Z', 1],
    ])
    expect(await cli('usage', '--by', 'day,hour')).toMatchObject({ code: 2 })
    expect(await cli('usage', '--by', 'colour')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^gatehouse: --by: .*\(HTTP 400\)\n$/),
    })
    expect(await ok('usage', '--since', '2020-01-01', '--until', '2020-01-02')).toBe(
      'Usage from 2020-01-01T00:00:00.000Z to 2020-01-02T00:00:00.000Z: none.\n'
    )
  })
})
