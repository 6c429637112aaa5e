/**
 * The benchmark in miniature, in `npm test`: the same code as `npm run bench` with two interleaved half-second rounds
 * per target, no warm-up and a few connections (paced streams: 20 at once, of 10 chunks 10 ms apart). It checks what
 * must hold on any machine (every request through every target succeeds, every paced stream comes back with all its
 * chunks and usage exactly when asked, the gateway runs with auth on and really forwards to the mock) and leaves the
 * performance targets to the full run, since CI machines are too noisy to judge them. The tenant scenarios run apart,
 * on their own gateway with Redis (required with `CI=true`, skipped without it elsewhere).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkStoreService, storeServiceUrl } from '../test/contract/check-store-service.ts'
import { connectRawRedis } from '../test/contract/connect-raw-redis.ts'
import { requireStoreService } from '../test/contract/define-store-contract.ts'
import { prepareGatewayBin } from './prepare-gateway-bin.ts'
import { formatReport, judgeBenchmark } from './format-report.ts'
import type {
  BenchmarkResult,
  Scenario,
  ScenarioRun,
  TargetName,
  TargetRun,
} from './run-benchmark.ts'
import { runBenchmark, targetNames, targetsOf } from './run-benchmark.ts'

/** A target's run, which must be there. */
const ran = (run: ScenarioRun, name: TargetName): TargetRun => {
  const target = run.targets[name]
  if (target === undefined) throw new Error(`${run.scenario.name}/${name} did not run`)
  return target
}

const smokeScenarios: readonly Scenario[] = [
  { name: 'max-throughput', connections: 8, stream: false },
  { name: 'fixed-rate', connections: 4, overallRate: 50, stream: false },
  { name: 'streaming', connections: 4, stream: true, includeUsage: true },
  { name: 'streaming-no-usage', connections: 4, stream: true, includeUsage: false },
  { name: 'streaming-converted', connections: 4, stream: true, converted: true },
  {
    name: 'paced-streams',
    connections: 20,
    stream: true,
    includeUsage: true,
    paced: { chunks: 10, intervalMs: 10 },
  },
  {
    name: 'paced-streams-no-usage',
    connections: 20,
    stream: true,
    includeUsage: false,
    paced: { chunks: 10, intervalMs: 10 },
  },
]

describe('benchmark smoke run', () => {
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'))
  const gatewayLogPath = join(directory, 'gateway.log')
  let result: BenchmarkResult

  beforeAll(async () => {
    const { bin } = await prepareGatewayBin({ cacheName: 'gatehouse-bench-smoke' })
    result = await runBenchmark({
      gatewayBin: bin,
      scenarios: smokeScenarios,
      durationSeconds: 1,
      warmupSeconds: 0,
      rounds: 2,
      roundLeadInSeconds: 0,
      verifyBodies: true,
      gatewayLogPath,
    })
  }, 300_000)

  afterAll(() => rmSync(directory, { recursive: true, force: true }))

  it('gets a successful, verified answer to every request through the mock, the reference and the gateway', () => {
    expect(result.failures).toEqual([])
    const runs = result.runs.flatMap((run) =>
      targetsOf(run.scenario).map((name) => ({
        label: `${run.scenario.name}/${name}`,
        ...ran(run, name),
      }))
    )
    // Three targets per proxy scenario; the gateway through two APIs in the converted one.
    expect(runs).toHaveLength((smokeScenarios.length - 1) * targetNames.length + 2)
    expect(runs.filter((run) => run.ok === 0).map((run) => run.label)).toEqual([])
    expect(
      runs.filter((run) => run.non2xx + run.errors + run.mismatches > 0).map((run) => run.label)
    ).toEqual([])
  })

  it('has the gateway forward every answered request to the mock upstream', () => {
    for (const run of result.runs) {
      for (const name of targetsOf(run.scenario).filter((target) => target !== 'direct')) {
        const target = ran(run, name)
        expect(target.upstreamRequests).toBeGreaterThanOrEqual(target.ok)
      }
    }
  })

  it("brings every paced stream back whole, with usage exactly when the client asked, and reads every chunk's delay", () => {
    const paced = result.runs.filter((run) => run.scenario.paced !== undefined)
    expect(paced.map((run) => run.scenario.name)).toEqual([
      'paced-streams',
      'paced-streams-no-usage',
    ])
    for (const run of paced) {
      for (const name of targetNames) {
        const target = ran(run, name)
        // Each stream the mock started came back to the load generator with all its chunks (a short or leaky stream
        // is a mismatch, which the first test rules out).
        expect(target.ok, `${run.scenario.name}/${name}`).toBe(target.upstreamRequests)
        expect(target.chunks?.chunks, `${run.scenario.name}/${name}`).toBeGreaterThan(0)
        expect(target.latencyMs.p50).toBeGreaterThanOrEqual(0)
      }
      expect(ran(run, 'gateway').chunks?.cpuMsPerThousandChunks).toBeGreaterThan(0)
      expect(ran(run, 'reference').chunks?.cpuMsPerThousandChunks).toBeGreaterThan(0)
      expect(run.targets.direct?.chunks?.cpuMsPerThousandChunks).toBeNull()
    }
  })

  it('streams through both conversions of the gateway alone, each stream checked whole, and reads its CPU per chunk', () => {
    const run = result.runs.find((candidate) => candidate.scenario.name === 'streaming-converted')
    if (run === undefined) throw new Error('streaming-converted did not run')
    expect(Object.keys(run.targets).sort()).toEqual(['messages', 'responses'])
    for (const name of ['responses', 'messages'] as const) {
      const target = ran(run, name)
      // Every answer was a whole stream (a short or malformed one is a mismatch, which the first test rules out).
      expect(target.ok, name).toBeGreaterThan(0)
      expect(target.roundCpuMicrosPerRequest.length, name).toBe(2)
    }
    const verdict = judgeBenchmark(result).conversion
    expect(verdict).toHaveLength(1)
    expect(verdict[0].upstreamChunksPerStream).toBe(23)
    expect(verdict[0].responses.cpuMicrosPerChunk).toBeGreaterThan(0)
    expect(verdict[0].messages.cpuMicrosPerChunk).toBeGreaterThan(0)
    expect(Number.isFinite(verdict[0].cpuPerChunkResponsesVsMessages)).toBe(true)
  })

  it('runs the gateway as shipped, logging at info level, and measures its memory', () => {
    const log = readFileSync(gatewayLogPath, 'utf8')
    expect(log).toContain('"level":"info"')
    expect(result.peakRssKb.gateway).toBeGreaterThan(10_000)
    expect(result.peakRssKb.reference).toBeGreaterThan(10_000)
  })

  it('reports every figure the full run judges, with a verdict line per target', () => {
    const verdict = judgeBenchmark(result)
    for (const value of Object.values(verdict.ratios)) expect(Number.isFinite(value)).toBe(true)
    for (const paced of verdict.paced) {
      for (const value of Object.values(paced))
        if (typeof value === 'number') expect(Number.isFinite(value)).toBe(true)
    }
    const report = formatReport(result, verdict)
    expect(report).toMatch(/(PASS|FAIL) {2}max throughput, gateway\/reference/)
    expect(report).toMatch(/(PASS|FAIL) {2}streams per second, gateway\/reference/)
    expect(report).toMatch(/(PASS|FAIL) {2}added p99 at 50 req\/s/)
    expect(report).toMatch(
      /(PASS|FAIL) {2}streams per second without include_usage, gateway\/reference/
    )
    expect(report).toMatch(
      /(PASS|FAIL) {2}streaming-converted: CPU per upstream chunk, responses\/messages/
    )
    expect(report).toMatch(/responses\/messages CPU per upstream chunk in each round: \S+ \S+/)
    for (const name of ['paced-streams', 'paced-streams-no-usage']) {
      expect(report).toMatch(new RegExp(`(PASS|FAIL) {2}${name}: CPU per chunk, gateway/reference`))
      expect(report).toMatch(new RegExp(`(PASS|FAIL) {2}${name}: added delay p99 \\(ms\\)`))
      expect(report).toMatch(new RegExp(`(PASS|FAIL) {2}${name}: gateway peak RSS`))
    }
  })
})

const tenantSmokeScenarios: readonly Scenario[] = [
  {
    name: 'max-throughput-tenant',
    connections: 8,
    stream: false,
    tenant: { masterScenario: 'max-throughput' },
  },
  {
    name: 'fixed-rate-tenant',
    connections: 4,
    overallRate: 50,
    stream: false,
    tenant: { masterScenario: 'fixed-rate' },
  },
]

describe('benchmark smoke run with a tenant key', () => {
  requireStoreService('redis')
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-bench-tenant-'))
  const gatewayLogPath = join(directory, 'gateway.log')
  let result: BenchmarkResult

  beforeAll(async () => {
    // Without Redis the cases skip (or, with CI=true, fail) on `requireStoreService`'s check.
    if ((await checkStoreService('redis')) !== null) return
    const { bin } = await prepareGatewayBin({ cacheName: 'gatehouse-bench-smoke' })
    result = await runBenchmark({
      gatewayBin: bin,
      scenarios: tenantSmokeScenarios,
      durationSeconds: 1,
      warmupSeconds: 0.5,
      rounds: 2,
      roundLeadInSeconds: 0,
      verifyBodies: true,
      gatewayLogPath,
      // A loaded CI machine may keep Redis waiting past the gateway's 50 ms: refused, that would fail the run.
      redisTimeoutMs: 2_000,
    })
  }, 300_000)

  afterAll(() => rmSync(directory, { recursive: true, force: true }))

  it('gets a verified answer to every tenant-key request through the reference and the gateway, none refused', () => {
    expect(result.failures).toEqual([])
    for (const run of result.runs) {
      expect(run.targets.direct).toBeUndefined()
      for (const target of [ran(run, 'reference'), ran(run, 'gateway')]) {
        expect(target.ok).toBeGreaterThan(0)
        expect(target.non2xx + target.errors + target.mismatches + target.warmupFailures).toBe(0)
      }
      const gateway = ran(run, 'gateway')
      expect(gateway.upstreamRequests).toBeGreaterThanOrEqual(gateway.ok)
      expect(gateway.warmupUpstreamRequests).toBeGreaterThan(0)
    }
  })

  it('finds every tenant-key request that reached the mock in the SQL usage store, with its cost', () => {
    const usage = result.tenantUsage
    expect(usage).not.toBeNull()
    const gatewayRequests = result.runs.reduce(
      (sum, run) =>
        sum + ran(run, 'gateway').upstreamRequests + ran(run, 'gateway').warmupUpstreamRequests,
      0
    )
    // The preflight's plain and streamed calls come on top of the scenarios'.
    expect(usage?.upstreamRequests).toBe(gatewayRequests + 2)
    expect(usage?.requests).toBeGreaterThanOrEqual(gatewayRequests + 2)
    expect(usage?.costMicroUsd).toBeGreaterThan(0)
  })

  it('runs the gateway on Redis and a SQLite file of its own, and removes both afterwards', async () => {
    const log = readFileSync(gatewayLogPath, 'utf8')
    const opened = log.split('\n').find((line) => line.includes('"msg":"stores open"'))
    const stores = JSON.parse(opened ?? '{}') as { database?: string; limits?: string }
    expect(stores.limits).toBe('redis')
    expect(stores.database).toMatch(/gatehouse-bench-stores-.*gatehouse\.db$/)
    expect(existsSync(stores.database ?? '')).toBe(false)
    expect(result.stores).toEqual({
      database: 'sqlite',
      redisKeyPrefix: expect.stringMatching(/^gatehouse-test:bench:/),
      cacheRedisKeyPrefix: null,
    })
    const redis = await connectRawRedis({ url: storeServiceUrl('redis') })
    const left: string[] = []
    try {
      let cursor = '0'
      do {
        const [next, keys] = (await redis.command(
          'SCAN',
          cursor,
          'MATCH',
          `${result.stores.redisKeyPrefix}*`,
          'COUNT',
          1_000
        )) as [string, string[]]
        left.push(...keys)
        cursor = next
      } while (cursor !== '0')
    } finally {
      await redis.close()
    }
    expect(left).toEqual([])
  })

  it('reports the tenant targets and what the accounting costs', () => {
    const verdict = judgeBenchmark(result)
    const report = formatReport(result, verdict)
    expect(report).toMatch(/(PASS|FAIL) {2}max throughput with a tenant key, gateway\/reference/)
    expect(report).toMatch(/(PASS|FAIL) {2}added p99 at 50 req\/s with a tenant key/)
    expect(report).toContain('max-throughput-tenant against max-throughput: gateway/reference')
    expect(report).toMatch(/Tenant usage in the SQLite store: \d+ requests/)
    expect(verdict.tenant.map((entry) => Number.isFinite(entry.tenant))).toEqual([true, true])
  })
})

const cacheSmokeScenarios: readonly Scenario[] = [
  {
    name: 'cache-hit-memory',
    connections: 4,
    overallRate: 50,
    stream: false,
    cache: { backend: 'memory', versus: 'direct' },
  },
  {
    name: 'cache-hit-redis',
    connections: 4,
    overallRate: 50,
    stream: false,
    cache: { backend: 'redis', versus: 'direct' },
  },
  {
    name: 'cache-hit-vs-miss',
    connections: 4,
    overallRate: 20,
    stream: false,
    cache: { backend: 'memory', versus: 'miss', upstreamLatencyMs: 50 },
  },
]

describe('benchmark smoke run of the prompt cache', () => {
  requireStoreService('redis')
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-bench-cache-'))
  const gatewayLogPath = join(directory, 'gateway.log')
  let result: BenchmarkResult

  beforeAll(async () => {
    // Without Redis the cases skip (or, with CI=true, fail) on `requireStoreService`'s check.
    if ((await checkStoreService('redis')) !== null) return
    const { bin } = await prepareGatewayBin({ cacheName: 'gatehouse-bench-smoke' })
    result = await runBenchmark({
      gatewayBin: bin,
      scenarios: cacheSmokeScenarios,
      durationSeconds: 1,
      warmupSeconds: 0,
      rounds: 2,
      roundLeadInSeconds: 0,
      verifyBodies: false,
      gatewayLogPath,
      // A loaded CI machine may keep Redis waiting past the gateway's 50 ms: a miss, which would fail the run.
      redisTimeoutMs: 2_000,
    })
  }, 300_000)

  afterAll(() => rmSync(directory, { recursive: true, force: true }))

  it('answers every request to a cache gateway from the cache, with the mock answer, none reaching the mock', () => {
    expect(result.failures).toEqual([])
    for (const name of ['cache-hit-memory', 'cache-hit-redis']) {
      const run = result.runs.find((candidate) => candidate.scenario.name === name)
      if (run === undefined) throw new Error(`${name} did not run`)
      expect(Object.keys(run.targets).sort()).toEqual(['direct', 'gateway'])
      const gateway = ran(run, 'gateway')
      // Every answer said `x-gatehouse-cache: hit` and was the mock's (anything else is a mismatch).
      expect(gateway.ok, name).toBeGreaterThan(0)
      expect(gateway.non2xx + gateway.errors + gateway.mismatches + gateway.warmupFailures).toBe(0)
      expect(gateway.upstreamRequests, name).toBe(0)
      const direct = ran(run, 'direct')
      expect(direct.ok, name).toBeGreaterThan(0)
      expect(direct.upstreamRequests, name).toBe(direct.ok)
    }
  })

  it('sends every miss upstream and answers every hit from the cache, against a mock that takes 50 ms', () => {
    const run = result.runs.find((candidate) => candidate.scenario.name === 'cache-hit-vs-miss')
    if (run === undefined) throw new Error('cache-hit-vs-miss did not run')
    const hit = ran(run, 'hit')
    const miss = ran(run, 'miss')
    for (const target of [hit, miss]) {
      expect(target.ok).toBeGreaterThan(0)
      expect(target.non2xx + target.errors + target.mismatches + target.warmupFailures).toBe(0)
    }
    expect(hit.upstreamRequests).toBe(0)
    expect(miss.upstreamRequests).toBe(miss.ok)
    expect(miss.latencyMs.p50).toBeGreaterThanOrEqual(50)
  })

  it('reports the three cache targets, and removes the Redis keys of the cache', async () => {
    const verdict = judgeBenchmark(result)
    const report = formatReport(result, verdict)
    expect(report).toMatch(
      /(PASS|FAIL) {2}cache-hit-memory: added p99 of a memory hit over the direct call at 50 req\/s/
    )
    expect(report).toMatch(
      /(PASS|FAIL) {2}cache-hit-redis: added p99 of a redis hit over the direct call at 50 req\/s/
    )
    expect(report).toMatch(/(PASS|FAIL) {2}cache-hit-vs-miss: miss\/hit median latency/)
    expect(verdict.cache.map((entry) => entry.scenario)).toEqual(
      cacheSmokeScenarios.map((scenario) => scenario.name)
    )
    expect(result.stores.redisKeyPrefix).toBeNull()
    const prefix = result.stores.cacheRedisKeyPrefix
    expect(prefix).toMatch(/^gatehouse-test:bench-cache:/)
    const redis = await connectRawRedis({ url: storeServiceUrl('redis') })
    try {
      const [, keys] = (await redis.command(
        'SCAN',
        '0',
        'MATCH',
        `${prefix}*`,
        'COUNT',
        10_000
      )) as [string, string[]]
      expect(keys).toEqual([])
    } finally {
      await redis.close()
    }
  })
})
