/**
 * `gatehouse serve --workers 2` as users run it (the bin over the real build, as a child process): refused without
 * Redis; on Redis and PostgreSQL, one listening line and one generated master key that every worker accepts,
 * requests answered by both workers (each log line carries its process id), a tenant key's requests per minute held
 * jointly, a worker that dies replaced, and SIGTERM to the primary draining both workers (a stream in flight
 * finishes and its usage is stored) before it exits 0. Last, two workers on the default SQLite file: every request
 * stored once.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { storeServiceUrl } from '../contract/check-store-service.ts'
import {
  createThrowawayPostgresDatabase,
  runPostgresStatement,
  type ThrowawayDatabase,
} from '../contract/create-throwaway-postgres-database.ts'
import {
  createRedisTestPrefix,
  type RedisTestPrefix,
} from '../contract/create-redis-test-prefix.ts'
import { requireStoreService } from '../contract/define-store-contract.ts'
import { buildPrivateBin } from '../helpers/build-private-bin.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import { serveNodeFlags } from '../../src/runtime/serve-node-flags.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import {
  gatehouseListening,
  gatehouseLogLines,
  spawnGatehouse,
  stopGatehouse,
  type GatehouseProcess,
} from '../helpers/spawn-gatehouse.ts'

let bin = ''
let upstream: MockUpstream
const started: GatehouseProcess[] = []
const folders: string[] = []

beforeAll(async () => {
  bin = buildPrivateBin({
    name: 'gatehouse-serve-cluster-test',
    needs: 'src/runtime/serve-cluster.js',
  })
  // Streams long enough to be in flight when SIGTERM comes.
  upstream = await startMockOpenAIUpstream({ streamChunks: 8, chunkDelayMs: 100, record: false })
}, 300_000)

afterEach(async () => {
  for (const gatehouse of started.splice(0)) await stopGatehouse(gatehouse)
})

afterAll(async () => {
  await upstream?.close()
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

const workFolder = (configLines: string[]): string => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'))
  folders.push(cwd)
  writeFileSync(join(cwd, 'gatehouse.yaml'), configLines.join('\n'))
  return cwd
}

const providerLines = (): string[] => [
  'providers:',
  `  openai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false, models: [gpt-4o-mini] }`,
]

const start = (options: { cwd: string; env?: Record<string, string>; args?: string[] }) => {
  const gatehouse = spawnGatehouse({
    bin,
    cwd: options.cwd,
    // `usage` log lines (opt-in on Node) say which worker answered: their `pid`.
    env: { GATEHOUSE_CONFIG: 'gatehouse.yaml', PORT: '0', USAGE_LOG: 'true', ...options.env },
    args: options.args ?? ['serve', '--workers', '2'],
  })
  started.push(gatehouse)
  return gatehouse
}

type Reply = { status: number; headers: Record<string, unknown>; body: string }

/**
 * One chat completion on a connection of its own (no keep-alive), so that the primary hands each request to the
 * next worker in turn; `firstByte` resolves with the response's first bytes.
 */
const chat = (options: { url: string; key: string; requestId: string; stream?: boolean }) => {
  let firstByte: () => void = () => {}
  const first = new Promise<void>((resolve) => (firstByte = resolve))
  const done = new Promise<Reply>((resolve, reject) => {
    const outgoing = httpRequest(
      `${options.url}/v1/chat/completions`,
      {
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${options.key}`,
          'content-type': 'application/json',
          'x-request-id': options.requestId,
        },
      },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
          firstByte()
        })
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body })
        )
        response.on('error', reject)
      }
    )
    outgoing.on('error', reject)
    outgoing.end(
      JSON.stringify({
        model: 'gpt-4o-mini',
        stream: options.stream === true,
        messages: [{ role: 'user', content: 'Say something.' }],
        max_tokens: 50,
      })
    )
  })
  return { firstByte: first, done }
}

/** The admin API's answer, which must be a 201. */
const admin = async (options: { url: string; key: string; path: string; body: unknown }) => {
  const response = await fetch(`${options.url}${options.path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(options.body),
  })
  expect(response.status, await response.clone().text()).toBe(201)
  return (await response.json()) as Record<string, unknown>
}

/** The process id that wrote each request's `usage` line. */
const usagePids = (gatehouse: GatehouseProcess): Map<string, number> =>
  new Map(
    gatehouseLogLines(gatehouse)
      .filter((line) => line.msg === 'usage')
      .map((line) => [line.requestId as string, line.pid as number])
  )

const listeningPids = (gatehouse: GatehouseProcess): number[] =>
  gatehouseLogLines(gatehouse)
    .filter((line) => line.msg === 'gatehouse listening')
    .map((line) => line.pid as number)

describe('gatehouse serve --workers without Redis', () => {
  it('refuses more than one worker, saying why, and starts nothing', async () => {
    const cwd = workFolder(providerLines())
    const gatehouse = start({ cwd })
    expect(await gatehouse.exited).toEqual({ code: 1, signal: null })
    expect(gatehouse.output.stderr).toContain('gatehouse: cannot start, 1 problem:')
    expect(gatehouse.output.stderr).toContain(
      '--workers 2: more than one worker needs Redis (set REDIS_URL or redis.url)'
    )
    expect(gatehouse.output.stderr).toContain('rate limits, budgets and key revocations')
    expect(gatehouse.output.stdout).not.toContain('listening')
    expect(gatehouse.output.stderr).not.toMatch(/^\s+at /m)
  })

  it('refuses a worker count that is neither a number nor auto, as a usage error', async () => {
    const gatehouse = start({ cwd: workFolder([]), args: ['serve', '--workers', 'many'] })
    expect(await gatehouse.exited).toEqual({ code: 2, signal: null })
    expect(gatehouse.output.stderr).toContain(
      'gatehouse: --workers: expected a whole number from 1 to 1024, or auto; got "many"'
    )
  })
})

describe('gatehouse serve --workers 2 on Redis and PostgreSQL', () => {
  requireStoreService('postgres')
  requireStoreService('redis')

  let database: ThrowawayDatabase
  let redisPrefix: RedisTestPrefix
  let gatehouse: GatehouseProcess
  let url = ''
  let masterKey = ''
  let workerPids: number[] = []

  beforeAll(async () => {
    database = await createThrowawayPostgresDatabase()
    redisPrefix = createRedisTestPrefix({ label: 'serve-cluster' })
    const cwd = workFolder([
      // Fail closed, with time to answer on a loaded machine: a limit must not pass by failing open.
      `redis: { keyPrefix: "${redisPrefix.prefix}", timeoutMs: 2000 }`,
      'limits: { onStoreFailure: closed }',
      'usage: { flushIntervalMs: 50 }',
      ...providerLines(),
    ])
    // Not through `start`: this one lives for the whole block, not for one case.
    gatehouse = spawnGatehouse({
      bin,
      cwd,
      env: {
        GATEHOUSE_CONFIG: 'gatehouse.yaml',
        PORT: '0',
        DATABASE_URL: database.url,
        REDIS_URL: storeServiceUrl('redis'),
        USAGE_LOG: 'true',
      },
      args: ['serve', '--workers', '2'],
    })
    url = await gatehouseListening(gatehouse)
    masterKey = readFileSync(join(cwd, 'data', 'master-key'), 'utf8').trim()
  }, 60_000)

  afterAll(async () => {
    if (gatehouse) await stopGatehouse(gatehouse)
    await database?.drop()
    await redisPrefix?.cleanup()
  })

  it('prints one listening line and a generated master key once; two workers, not the primary, serve', () => {
    const { stdout } = gatehouse.output
    expect(stdout.match(/Gatehouse listening on http:\/\/\S+ \(2 workers\)/g)).toHaveLength(1)
    expect(stdout.split(masterKey).length - 1).toBe(1)
    workerPids = listeningPids(gatehouse)
    expect(workerPids).toHaveLength(2)
    expect(new Set(workerPids).size).toBe(2)
    expect(workerPids).not.toContain(gatehouse.child.pid)
    // Each worker runs with the Node flags `npm start` gives a single process (`serve-node-flags.ts`).
    if (process.platform === 'linux')
      for (const pid of workerPids)
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(
          expect.arrayContaining([...serveNodeFlags])
        )
  })

  it('answers from both workers, each taking the master key', async () => {
    const replies = await Promise.all(
      Array.from(
        { length: 12 },
        (_, index) => chat({ url, key: masterKey, requestId: `both-${index}` }).done
      )
    )
    expect(replies.map((reply) => reply.status)).toEqual(Array(12).fill(200))
    await expect
      .poll(() => [...usagePids(gatehouse).keys()].filter((id) => id.startsWith('both-')).length, {
        timeout: 5_000,
      })
      .toBe(12)
    const pids = new Set(
      [...usagePids(gatehouse)].filter(([id]) => id.startsWith('both-')).map(([, pid]) => pid)
    )
    expect([...pids].sort()).toEqual([...workerPids].sort())
  })

  it("holds a tenant key's requests per minute jointly: 10 answered of 30 spread over both workers", async () => {
    await admin({ url, key: masterKey, path: '/admin/v1/tenants', body: { name: 'acme' } })
    const created = await admin({
      url,
      key: masterKey,
      path: '/admin/v1/keys',
      body: { tenant: 'acme', limits: { rpm: 10 } },
    })
    const replies = await Promise.all(
      Array.from(
        { length: 30 },
        (_, index) => chat({ url, key: created.key as string, requestId: `rpm-${index}` }).done
      )
    )
    const statuses = replies.map((reply) => reply.status)
    expect(statuses.filter((status) => status === 200)).toHaveLength(10)
    expect(statuses.filter((status) => status === 429)).toHaveLength(20)
    await expect
      .poll(() => [...usagePids(gatehouse).keys()].filter((id) => id.startsWith('rpm-')).length, {
        timeout: 5_000,
      })
      .toBe(30)
    // Both workers took part: with a limit per process, 20 would have been answered.
    const servedBy = [...usagePids(gatehouse)].filter(([id]) => id.startsWith('rpm-'))
    expect(new Set(servedBy.map(([, pid]) => pid)).size).toBe(2)
  })

  it('starts another worker when one dies, and keeps answering', async () => {
    const [victim, survivor] = workerPids
    process.kill(victim, 'SIGKILL')
    await gatehouse.waitForStdout(/"msg":"worker exited; starting another".*"signal":"SIGKILL"/)
    await expect.poll(() => listeningPids(gatehouse).length, { timeout: 10_000 }).toBe(3)
    const replacement = listeningPids(gatehouse)[2]
    expect([victim, survivor]).not.toContain(replacement)
    workerPids = [survivor, replacement]

    const replies = await Promise.all(
      Array.from(
        { length: 8 },
        (_, index) => chat({ url, key: masterKey, requestId: `again-${index}` }).done
      )
    )
    expect(replies.map((reply) => reply.status)).toEqual(Array(8).fill(200))
    await expect
      .poll(
        () =>
          [...usagePids(gatehouse)]
            .filter(([id]) => id.startsWith('again-'))
            .map(([, pid]) => pid)
            .includes(replacement),
        { timeout: 5_000 }
      )
      .toBe(true)
  })

  it('drains both workers on SIGTERM to the primary: streams in flight finish, their usage is stored, exit 0', async () => {
    const streams = Array.from({ length: 4 }, (_, index) =>
      chat({ url, key: masterKey, requestId: `drain-${index}`, stream: true })
    )
    await Promise.all(streams.map((stream) => stream.firstByte))
    gatehouse.child.kill('SIGTERM')
    const replies = await Promise.all(streams.map((stream) => stream.done))
    for (const reply of replies) {
      expect(reply.status).toBe(200)
      expect(reply.body).toContain('data: [DONE]')
    }
    expect(await gatehouse.exited).toEqual({ code: 0, signal: null })
    const completed = gatehouseLogLines(gatehouse)
      .filter((line) => line.msg === 'shutdown complete')
      .map((line) => line.pid)
    expect([...completed].sort()).toEqual([...workerPids].sort())
    // Both workers drained streams (the primary handed the connections out in turn).
    const drainedBy = [...usagePids(gatehouse)].filter(([id]) => id.startsWith('drain-'))
    expect(new Set(drainedBy.map(([, pid]) => pid)).size).toBe(2)
    const stored = await runPostgresStatement({
      url: database.url,
      sql: "select request_id || ' ' || status || ' ' || output_tokens from usage_events where request_id like 'drain-%' order by request_id",
    })
    expect(stored.split('\n')).toEqual(
      streams.map((_, index) => expect.stringMatching(new RegExp(`^drain-${index} 200 [1-9]`)))
    )
  })
})

describe('gatehouse serve --workers 2 on the default SQLite file', () => {
  requireStoreService('redis')

  it('stores every request once, from both workers, and exits 0', async () => {
    const redisPrefix = createRedisTestPrefix({ label: 'serve-cluster-sqlite' })
    try {
      const cwd = workFolder([
        // Fail closed, with time to answer on a loaded machine: a limit must not pass by failing open.
        `redis: { keyPrefix: "${redisPrefix.prefix}", timeoutMs: 2000 }`,
        'limits: { onStoreFailure: closed }',
        'usage: { flushIntervalMs: 20, batchSize: 5 }',
        ...providerLines(),
      ])
      const gatehouse = start({
        cwd,
        env: { REDIS_URL: storeServiceUrl('redis'), GATEHOUSE_MASTER_KEY: 'cluster-sqlite-key' },
      })
      const url = await gatehouseListening(gatehouse)
      const replies = await Promise.all(
        Array.from(
          { length: 40 },
          (_, index) =>
            chat({
              url,
              key: 'cluster-sqlite-key',
              requestId: `sqlite-${index}`,
              stream: index % 4 === 0,
            }).done
        )
      )
      expect(replies.map((reply) => reply.status)).toEqual(Array(40).fill(200))
      gatehouse.child.kill('SIGTERM')
      expect(await gatehouse.exited).toEqual({ code: 0, signal: null })
      const pids = new Set(
        [...usagePids(gatehouse)].filter(([id]) => id.startsWith('sqlite-')).map(([, pid]) => pid)
      )
      expect(pids.size).toBe(2)

      const sqlite = new Database(join(cwd, 'data', 'gatehouse.db'), { readonly: true })
      try {
        const rows = sqlite
          .prepare('select request_id, count(*) as n from usage_events group by request_id')
          .all() as { request_id: string; n: number }[]
        expect(rows.map((row) => row.request_id).sort()).toEqual(
          Array.from({ length: 40 }, (_, index) => `sqlite-${index}`).sort()
        )
        expect(rows.every((row) => row.n === 1)).toBe(true)
      } finally {
        sqlite.close()
      }
    } finally {
      await redisPrefix.cleanup()
    }
  }, 30_000)
})
