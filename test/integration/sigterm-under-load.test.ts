/**
 * No usage event is lost when one of two gateway instances gets SIGTERM under load. Two `gatehouse serve` processes
 * (the bin over the real build) share one PostgreSQL and one Redis, as behind a load balancer. Concurrent chat
 * completions, a third of them streamed, go to both through keep-alive connections; once a third of them are done
 * the first instance gets SIGTERM. Requests in flight there finish during its drain, requests sent on its idle
 * keep-alive connections are still answered (with `Connection: close`), and a request it no longer accepts is sent to
 * the other instance under a new id, as a client retrying would. Then PostgreSQL must hold exactly one usage event
 * per request that got an answer, matched by the `x-request-id` each answer carries, and none for any other.
 *
 * Usage is written in batches of 20 with a one-minute interval: during the load some batches are being written when
 * SIGTERM comes, and what is left in the queue is written only by the shutdown's flush.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import {
  gatehouseListening,
  spawnGatehouse,
  stopGatehouse,
  type GatehouseProcess,
} from '../helpers/spawn-gatehouse.ts'

requireStoreService('postgres')
requireStoreService('redis')

const masterKey = 'gh-sigterm-under-load-master-key'
const totalRequests = 300
/** Requests in flight at any time, spread over both instances. */
const lanes = 24
/** SIGTERM goes to the first instance once this many requests have their answer. */
const sigtermAfter = 100

let bin = ''
let upstream: MockUpstream
let database: ThrowawayDatabase
let redisPrefix: RedisTestPrefix
let cwd = ''
const instances: GatehouseProcess[] = []
const urls: string[] = []

beforeAll(async () => {
  bin = buildPrivateBin({ name: 'gatehouse-sigterm-under-load-test', needs: 'src/runtime/node.js' })
  // A streamed answer takes about 300 ms: several are in flight when SIGTERM comes.
  upstream = await startMockOpenAIUpstream({ streamChunks: 8, chunkDelayMs: 40, record: false })
  database = await createThrowawayPostgresDatabase()
  redisPrefix = createRedisTestPrefix({ label: 'sigterm-under-load' })
  cwd = mkdtempSync(join(tmpdir(), 'gatehouse-sigterm-'))
  writeFileSync(
    join(cwd, 'gatehouse.yaml'),
    [
      // Fail closed, with time to answer on a loaded machine: a limit must not pass by failing open.
      `redis: { keyPrefix: "${redisPrefix.prefix}", timeoutMs: 2000 }`,
      'limits: { onStoreFailure: closed }',
      'usage: { batchSize: 20, flushIntervalMs: 60000 }',
      'providers:',
      `  openai: { type: openai, apiKey: ${MOCK_OPENAI_API_KEY}, baseUrl: "${upstream.baseUrl}", discoverModels: false, models: [gpt-4o-mini] }`,
    ].join('\n')
  )
  for (let index = 0; index < 2; index += 1)
    instances.push(
      spawnGatehouse({
        bin,
        cwd,
        env: {
          GATEHOUSE_CONFIG: 'gatehouse.yaml',
          GATEHOUSE_MASTER_KEY: masterKey,
          PORT: '0',
          LOG_LEVEL: 'warn',
          DATABASE_URL: database.url,
          REDIS_URL: storeServiceUrl('redis'),
        },
      })
    )
  urls.push(...(await Promise.all(instances.map((instance) => gatehouseListening(instance)))))
}, 300_000)

afterAll(async () => {
  for (const instance of instances) await stopGatehouse(instance)
  await database?.drop()
  await redisPrefix?.cleanup()
  await upstream?.close()
  if (cwd !== '') rmSync(cwd, { recursive: true, force: true })
})

type Outcome = {
  id: string
  instance: number
  stream: boolean
  startedAt: number
  endedAt: number
  /** The response's status line arrived. */
  answered: boolean
  status: number
  /** The answer's `x-request-id`. */
  echoedId: string | undefined
  body: string
  error: string | null
}

const post = (options: {
  instance: number
  agent: Agent
  id: string
  key: string
  stream: boolean
}): Promise<Outcome> =>
  new Promise((resolve) => {
    const outcome: Outcome = {
      id: options.id,
      instance: options.instance,
      stream: options.stream,
      startedAt: performance.now(),
      endedAt: 0,
      answered: false,
      status: 0,
      echoedId: undefined,
      body: '',
      error: null,
    }
    const finish = (error: Error | null): void => {
      if (outcome.endedAt !== 0) return
      outcome.endedAt = performance.now()
      outcome.error = error === null ? null : error.message
      resolve(outcome)
    }
    const outgoing = httpRequest(
      `${urls[options.instance]}/v1/chat/completions`,
      {
        method: 'POST',
        agent: options.agent,
        headers: {
          authorization: `Bearer ${options.key}`,
          'content-type': 'application/json',
          'x-request-id': options.id,
        },
      },
      (response) => {
        outcome.answered = true
        outcome.status = response.statusCode ?? 0
        outcome.echoedId = response.headers['x-request-id'] as string | undefined
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (outcome.body += chunk))
        response.on('end', () => finish(null))
        response.on('error', finish)
        response.on('close', () => finish(response.complete ? null : new Error('cut short')))
      }
    )
    outgoing.on('error', finish)
    outgoing.end(
      JSON.stringify({
        model: 'gpt-4o-mini',
        stream: options.stream,
        messages: [{ role: 'user', content: `Request ${options.id}: say something.` }],
        max_tokens: 50,
      })
    )
  })

describe('SIGTERM to one of two instances under load', () => {
  it('stores exactly one usage event for every request answered, those in flight at SIGTERM included', async () => {
    const tenant = await fetch(`${urls[1]}/admin/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'load' }),
    })
    expect(tenant.status).toBe(201)
    const created = await fetch(`${urls[1]}/admin/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'load', limits: { rpm: 100_000 } }),
    })
    const { key, id: keyId } = (await created.json()) as { key: string; id: string }

    const agents = [0, 1].map(() => new Agent({ keepAlive: true, maxSockets: lanes }))
    const outcomes: Outcome[] = []
    const refusedBy = [false, false]
    let sigtermAt = Number.POSITIVE_INFINITY
    let answers = 0
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < totalRequests) {
        const index = next++
        const stream = index % 3 === 0
        const first = refusedBy[index % 2] ? 1 - (index % 2) : index % 2
        let outcome = await post({
          instance: first,
          agent: agents[first],
          id: `load-${index}`,
          key,
          stream,
        })
        outcomes.push(outcome)
        if (!outcome.answered) {
          // Not accepted there (closed listener, or a keep-alive connection it closed): the client retries elsewhere.
          refusedBy[first] = true
          outcome = await post({
            instance: 1 - first,
            agent: agents[1 - first],
            id: `load-${index}-retry`,
            key,
            stream,
          })
          outcomes.push(outcome)
        }
        if (outcome.answered) answers += 1
        if (answers === sigtermAfter && sigtermAt === Number.POSITIVE_INFINITY) {
          sigtermAt = performance.now()
          instances[0].child.kill('SIGTERM')
        }
      }
    }
    await Promise.all(Array.from({ length: lanes }, lane))
    for (const agent of agents) agent.destroy()

    expect(await instances[0].exited).toEqual({ code: 0, signal: null })
    instances[1].child.kill('SIGTERM')
    expect(await instances[1].exited).toEqual({ code: 0, signal: null })

    const answered = outcomes.filter((outcome) => outcome.answered)
    // Every request has an answer, on one instance or the other; each answer names its request.
    expect(new Set(answered.map((outcome) => outcome.id.replace(/-retry$/, ''))).size).toBe(
      totalRequests
    )
    for (const outcome of answered) {
      expect(outcome, outcome.id).toMatchObject({ status: 200, error: null, echoedId: outcome.id })
      if (outcome.stream) expect(outcome.body, outcome.id).toContain('data: [DONE]')
    }
    // The case is the one described: requests, streams among them, were in flight on the first instance at SIGTERM.
    const inFlightAtSigterm = answered.filter(
      (outcome) =>
        outcome.instance === 0 && outcome.startedAt < sigtermAt && outcome.endedAt > sigtermAt
    )
    expect(inFlightAtSigterm.length).toBeGreaterThan(0)
    expect(inFlightAtSigterm.some((outcome) => outcome.stream)).toBe(true)
    expect(answered.filter((outcome) => outcome.instance === 1).length).toBeGreaterThan(
      totalRequests / 2
    )

    const rows = await runPostgresStatement({
      url: database.url,
      sql: `select request_id || ' ' || count(*) || ' ' || min(key_id) from usage_events group by request_id`,
    })
    const stored = new Map(
      rows
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          const [requestId, count, storedKeyId] = line.split(' ')
          return [requestId, { count: Number(count), keyId: storedKeyId }]
        })
    )
    const lost = answered.filter((outcome) => !stored.has(outcome.id)).map((outcome) => outcome.id)
    const twice = [...stored].filter(([, row]) => row.count !== 1).map(([id]) => id)
    const unanswered = [...stored.keys()].filter(
      (id) => !answered.some((outcome) => outcome.id === id)
    )
    expect({ lost, twice, unanswered }).toEqual({ lost: [], twice: [], unanswered: [] })
    expect(stored.size).toBe(answered.length)
    expect([...stored.values()].every((row) => row.keyId === keyId)).toBe(true)
  }, 60_000)
})
