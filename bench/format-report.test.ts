import { describe, expect, it } from 'vitest'
import { formatReport, judgeBenchmark, roundRatios } from './format-report.ts'
import type { BenchmarkResult, ScenarioRun, TargetName, TargetRun } from './run-benchmark.ts'
import { fullScenarios } from './run-benchmark.ts'

const target = (
  requestsPerSecond: number,
  p99: number,
  cpu: Partial<TargetRun['cpuPercent']> = {}
): TargetRun => ({
  ok: Math.round(requestsPerSecond * 10),
  non2xx: 0,
  errors: 0,
  timeouts: 0,
  mismatches: 0,
  warmupFailures: 0,
  statusCodes: { '200': Math.round(requestsPerSecond * 10) },
  measuredSeconds: 10,
  requestsPerSecond,
  roundRates: [requestsPerSecond * 0.8, requestsPerSecond * 1.2],
  latencyMs: { p50: p99 / 3, p90: p99 / 2, p99, max: p99 * 2, mean: p99 / 3 },
  peakRssKb: 80_000,
  gc: null,
  upstreamRequests: Math.round(requestsPerSecond * 10),
  warmupUpstreamRequests: Math.round(requestsPerSecond * 10),
  cpuMicrosPerRequest: { target: 990_000 / requestsPerSecond, redis: null },
  roundCpuMicrosPerRequest: [990_000 / requestsPerSecond, 990_000 / requestsPerSecond],
  cpuPercent: { target: 99, mock: 30, loadGenerator: 40, redis: null, other: 2, steal: 0, ...cpu },
})

/** A target's run in a fixture, to change a figure. */
const ran = (scenarioRun: ScenarioRun, name: TargetName): TargetRun => {
  const found = scenarioRun.targets[name]
  if (found === undefined) throw new Error(`no ${name} in ${scenarioRun.scenario.name}`)
  return found
}

const run = (
  scenario: ScenarioRun['scenario'],
  figures: Record<'direct' | 'reference' | 'gateway', [number, number]>
): ScenarioRun => ({
  scenario,
  targets: {
    direct: target(...figures.direct),
    reference: target(...figures.reference),
    gateway: target(...figures.gateway),
  },
})

/** A paced-streams run: 20,000 chunks per target, the gateway's CPU and chunk delays as given. */
const pacedRun = (options: {
  gatewayCpuSeconds: number
  gatewayP99: number
  gatewayRssKb?: number
}): ScenarioRun => {
  const chunkTarget = (cpuSeconds: number | null, p50: number, p99: number): TargetRun => ({
    ...target(2000, p99),
    latencyMs: { p50, p90: p99 / 2, p99, max: p99 * 2, mean: p50 },
    chunks: {
      chunks: 20_000,
      cpuSeconds,
      cpuMsPerThousandChunks: cpuSeconds === null ? null : (cpuSeconds / 20_000) * 1_000_000,
      roundCpuMsPerThousandChunks:
        cpuSeconds === null
          ? [null, null]
          : [(cpuSeconds / 20_000) * 1_000_000 * 0.9, (cpuSeconds / 20_000) * 1_000_000 * 1.1],
      // Two rounds on either side of the pooled p99.
      roundP99Ms: [p99 - 0.5, p99 + 1],
    },
  })
  const gateway = chunkTarget(options.gatewayCpuSeconds, 1.5, options.gatewayP99)
  gateway.peakRssKb = options.gatewayRssKb ?? 200 * 1024
  return {
    scenario: {
      name: 'paced-streams',
      connections: 500,
      stream: true,
      includeUsage: false,
      paced: { chunks: 200, intervalMs: 20 },
    },
    targets: {
      direct: chunkTarget(null, 0.4, 1.5),
      reference: chunkTarget(0.2, 1.2, 2.5),
      gateway,
    },
  }
}

/** A tenant scenario as `npm run bench` defines it: the reference and the gateway, Redis's CPU read. */
const tenantRun = (
  name: 'max-throughput-tenant' | 'fixed-rate-tenant',
  figures: { reference: [number, number]; gateway: [number, number] }
): ScenarioRun => {
  const scenario = fullScenarios.find((candidate) => candidate.name === name)
  if (scenario === undefined) throw new Error(`no scenario ${name}`)
  const gateway = target(...figures.gateway, { redis: 12 })
  gateway.cpuMicrosPerRequest.redis = 40
  return { scenario, targets: { reference: target(...figures.reference, { redis: 0 }), gateway } }
}

const result = (options: {
  gatewayRate: number
  gatewayStreams: number
  gatewayFixedP99: number
  failures?: string[]
}): BenchmarkResult => ({
  startedAt: '2025-01-01T00:00:00.000Z',
  environment: { node: 'v20.0.0', cpus: 2, pinned: true, pinningNote: 'pinned' },
  settings: {
    durationSeconds: 10,
    warmupSeconds: 10,
    rounds: 2,
    roundLeadInSeconds: 1,
    model: 'gpt-4o-mini',
    streamChunks: 20,
    upstreamChunksPerStream: 23,
  },
  runs: [
    run(
      { name: 'max-throughput', connections: 64, stream: false },
      { direct: [8000, 20], reference: [4000, 30], gateway: [options.gatewayRate, 40] }
    ),
    run(
      { name: 'fixed-rate', connections: 8, overallRate: 200, stream: false },
      {
        direct: [200, 0.5],
        reference: [200, 1.2],
        gateway: [200, options.gatewayFixedP99],
      }
    ),
    run(
      { name: 'streaming', connections: 32, stream: true },
      { direct: [2000, 30], reference: [1500, 40], gateway: [options.gatewayStreams, 50] }
    ),
  ],
  stores: { database: 'sqlite', redisKeyPrefix: null, cacheRedisKeyPrefix: null },
  tenantUsage: null,
  peakRssKb: { gateway: 120_000, reference: 60_000 },
  failures: options.failures ?? [],
})

/** `streaming-converted`: the gateway through the Responses API and the Messages API, CPU µs per stream as given. */
const convertedRun = (cpu: { responses: number[]; messages: number[] }): ScenarioRun => {
  const scenario = fullScenarios.find((candidate) => candidate.name === 'streaming-converted')
  if (scenario === undefined) throw new Error('no streaming-converted scenario')
  const converting = (rounds: number[], streams: number): TargetRun => ({
    ...target(streams, 30),
    cpuMicrosPerRequest: { target: (rounds[0] + rounds[1]) / 2, redis: null },
    roundCpuMicrosPerRequest: rounds,
  })
  return {
    scenario,
    targets: {
      responses: converting(cpu.responses, 1800),
      messages: converting(cpu.messages, 2000),
    },
  }
}

describe('judgeBenchmark', () => {
  it('passes when the gateway keeps 0.70 of the reference throughput, 0.65 of its streams, and adds under 2 ms to p99', () => {
    const verdict = judgeBenchmark(
      result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 3.1 })
    )
    expect(verdict.ratios.throughputVsReference).toBeCloseTo(0.75)
    expect(verdict.ratios.throughputVsDirect).toBeCloseTo(0.375)
    expect(verdict.ratios.streamsVsReference).toBeCloseTo(0.7)
    expect(verdict.ratios.fixedRateAddedP99Ms).toBeCloseTo(1.9)
    expect(verdict.checks.map((check) => check.name)).toEqual([
      'max throughput, gateway/reference',
      'added p99 at 200 req/s (ms)',
      'streams per second, gateway/reference',
    ])
    expect(verdict.checks.map((check) => check.pass)).toEqual([true, true, true])
    expect(verdict.pass).toBe(true)
  })

  it('fails each target on its own figure', () => {
    const slow = judgeBenchmark(
      result({ gatewayRate: 2600, gatewayStreams: 1050, gatewayFixedP99: 2 })
    )
    expect(slow.checks.map((check) => check.pass)).toEqual([false, true, true])
    const slowStreams = judgeBenchmark(
      result({ gatewayRate: 3000, gatewayStreams: 900, gatewayFixedP99: 2 })
    )
    expect(slowStreams.checks.map((check) => check.pass)).toEqual([true, true, false])
    const laggy = judgeBenchmark(
      result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 3.3 })
    )
    expect(laggy.checks.map((check) => check.pass)).toEqual([true, false, true])
    expect([slow.pass, slowStreams.pass, laggy.pass]).toEqual([false, false, false])
  })

  it('judges only the scenarios that ran', () => {
    const data = result({ gatewayRate: 1000, gatewayStreams: 1050, gatewayFixedP99: 9 })
    data.runs = data.runs.filter((run) => run.scenario.name === 'streaming')
    const verdict = judgeBenchmark(data)
    expect(verdict.checks.map((check) => check.name)).toEqual([
      'streams per second, gateway/reference',
    ])
    expect(verdict.pass).toBe(true)
  })

  it('judges paced streams by CPU per chunk against the reference, added p99 delay and peak RSS', () => {
    const data = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    data.runs.push(pacedRun({ gatewayCpuSeconds: 0.28, gatewayP99: 3.2 }))
    const verdict = judgeBenchmark(data)
    // 0.28 s over 20,000 chunks is 14 ms per 1,000 against the reference's 10: 1.4 times; p99 3.2 - 2.5 ms.
    expect(verdict.paced).toHaveLength(1)
    expect(verdict.paced[0].gatewayCpuMsPerThousandChunks).toBeCloseTo(14)
    expect(verdict.paced[0].referenceCpuMsPerThousandChunks).toBeCloseTo(10)
    expect(verdict.paced[0].cpuPerChunkVsReference).toBeCloseTo(1.4)
    expect(verdict.paced[0].addedP50Ms).toBeCloseTo(0.3)
    expect(verdict.paced[0].addedP99Ms).toBeCloseTo(0.7)
    // Round by round: (2.7 - 2.0) and (4.2 - 3.5), both 0.7, so no spread.
    expect(verdict.paced[0].addedP99ByRound?.differences).toEqual([
      expect.closeTo(0.7),
      expect.closeTo(0.7),
    ])
    expect(verdict.paced[0].addedP99ByRound?.halfWidth).toBeCloseTo(0)
    expect(formatReport(data, verdict)).toContain(
      'added delay p99 in each round (ms): +0.70 +0.70; mean +0.70 ± 0.00 (two standard errors)'
    )
    expect(verdict.checks.slice(3).map((check) => [check.name, check.pass])).toEqual([
      ['paced-streams: CPU per chunk, gateway/reference', true],
      ['paced-streams: added delay p99 (ms)', true],
      ['paced-streams: gateway peak RSS (MiB)', true],
    ])
    expect(verdict.pass).toBe(true)

    const costly = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    costly.runs.push(
      pacedRun({ gatewayCpuSeconds: 0.32, gatewayP99: 3.6, gatewayRssKb: 310 * 1024 })
    )
    expect(
      judgeBenchmark(costly)
        .checks.slice(3)
        .map((check) => check.pass)
    ).toEqual([false, false, false])
  })

  it('fails the run when any request failed, whatever the speed', () => {
    const verdict = judgeBenchmark(
      result({
        gatewayRate: 4000,
        gatewayStreams: 1500,
        gatewayFixedP99: 1,
        failures: ['streaming / gateway: 3 non-2xx responses'],
      })
    )
    expect(verdict.checks.every((check) => check.pass)).toBe(true)
    expect(verdict.pass).toBe(false)
  })
})

describe('judgeBenchmark with a tenant key', () => {
  it('judges the tenant scenarios against the reference of their own rounds: 0.60 of its rate, under 3 ms added to p99', () => {
    const data = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    data.runs.push(
      tenantRun('max-throughput-tenant', { reference: [4000, 30], gateway: [2600, 45] }),
      tenantRun('fixed-rate-tenant', { reference: [200, 1.2], gateway: [200, 3.7] })
    )
    const verdict = judgeBenchmark(data)
    expect(verdict.checks.slice(3).map((check) => [check.name, check.pass])).toEqual([
      ['max throughput with a tenant key, gateway/reference', true],
      ['added p99 at 200 req/s with a tenant key (ms)', true],
    ])
    expect(verdict.checks[3].value).toBeCloseTo(0.65)
    expect(verdict.checks[4].value).toBeCloseTo(2.5)
    expect(verdict.pass).toBe(true)
    // Beside the master-key scenarios of the same run (gateway/reference 0.75; added p99 0.8 ms).
    expect(
      verdict.tenant.map((entry) => [entry.scenario, entry.masterScenario, entry.measure])
    ).toEqual([
      ['max-throughput-tenant', 'max-throughput', 'rateVsReference'],
      ['fixed-rate-tenant', 'fixed-rate', 'addedP99Ms'],
    ])
    expect(verdict.tenant[0].tenant).toBeCloseTo(0.65)
    expect(verdict.tenant[0].master).toBeCloseTo(0.75)
    expect(verdict.tenant[1].master).toBeCloseTo(0.8)
    expect(verdict.tenant[0].gatewayCpuMicrosPerRequest.tenant).toBeCloseTo(990_000 / 2600)
    expect(verdict.tenant[0].gatewayCpuMicrosPerRequest.master).toBeCloseTo(330)
    expect(verdict.tenant[0].redisCpuMicrosPerRequest).toBe(40)

    const slow = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    slow.runs.push(
      tenantRun('max-throughput-tenant', { reference: [4000, 30], gateway: [2360, 45] }),
      tenantRun('fixed-rate-tenant', { reference: [200, 1.2], gateway: [200, 4.3] })
    )
    const slowVerdict = judgeBenchmark(slow)
    expect(slowVerdict.checks.slice(3).map((check) => check.pass)).toEqual([false, false])
    expect(slowVerdict.pass).toBe(false)
  })

  it('judges a tenant scenario without its master-key namesake, whose figures are then unknown', () => {
    const data = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    data.runs = [tenantRun('max-throughput-tenant', { reference: [4000, 30], gateway: [2600, 45] })]
    const verdict = judgeBenchmark(data)
    expect(verdict.checks.map((check) => check.name)).toEqual([
      'max throughput with a tenant key, gateway/reference',
    ])
    expect(verdict.tenant[0].master).toBeNaN()
    expect(formatReport(data, verdict)).toContain(
      'max-throughput-tenant against max-throughput: gateway/reference 0.65 against n/a (tenant/master n/a)'
    )
  })
})

describe('formatReport', () => {
  it('shows a tenant scenario without the direct call, with Redis CPU, beside its master-key namesake, and the usage recorded', () => {
    const data = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    data.runs.push(
      tenantRun('max-throughput-tenant', { reference: [4000, 30], gateway: [2600, 45] }),
      tenantRun('fixed-rate-tenant', { reference: [200, 1.2], gateway: [200, 3.7] })
    )
    data.tenantUsage = {
      requests: 60_010,
      errors: 12,
      clientAborted: 10,
      costMicroUsd: 1_234_567,
      unpricedRequests: 12,
      upstreamRequests: 60_000,
    }
    const report = formatReport(data, judgeBenchmark(data))
    const table = report.slice(report.indexOf('max-throughput-tenant: 64 connections'))
    expect(table).toMatch(/^target +rate\/s .* core 1 +redis +other$/m)
    expect(table).toMatch(
      /^gateway +2600 +15\.00 +22\.50 +45\.00 +90\.0 +0 +0 +78\.1 MiB +99% +70% +12% +2%$/m
    )
    expect(table.slice(0, table.indexOf('\n\n'))).not.toMatch(/^direct/m)
    expect(report).toContain(
      'max-throughput-tenant: 64 connections, max rate, tenant key (RPM, TPM and budget checked in Redis; usage in the SQL store) (req/s)'
    )
    expect(report).toContain(
      '  max-throughput-tenant against max-throughput: gateway/reference 0.65 against 0.75 (tenant/master 0.87); ' +
        'gateway CPU per request 381 against 330 µs (+51 µs), Redis 40 µs'
    )
    expect(report).toContain(
      '  fixed-rate-tenant against fixed-rate: added p99 2.50 against 0.80 ms (+1.70 ms); ' +
        'gateway CPU per request 4950 against 4950 µs (+0 µs), Redis 40 µs'
    )
    expect(report).toContain(
      'Tenant usage in the SQLite store: 60010 requests (60000 reached the mock, 10 cut short by the client), 12 errors, cost 1.23 USD'
    )
    expect(report).toContain(
      'throughput with a tenant key 0.65; added p99 at fixed rate with a tenant key 2.50 ms'
    )
    expect(report).toContain(
      'PASS  max throughput with a tenant key, gateway/reference: 0.65 (target >= 0.6)'
    )
    expect(report).toContain(
      'PASS  added p99 at 200 req/s with a tenant key (ms): 2.50 (target < 3)'
    )
  })

  it('shows each target with its figures, the ratios and a PASS/FAIL line per target', () => {
    const data = result({ gatewayRate: 1900, gatewayStreams: 900, gatewayFixedP99: 2 })
    const report = formatReport(data, judgeBenchmark(data))
    expect(report).toMatch(
      /^gateway +1900 +13\.33 +20\.00 +40\.00 +80\.0 +0 +0 +78\.1 MiB +99% +70% +2%$/m
    )
    expect(report).not.toContain('WARNINGS')
    expect(report).toContain(
      'Gateway/reference: throughput 0.47; added p99 at fixed rate 0.80 ms; streams 0.60'
    )
    expect(report).toContain('FAIL  max throughput, gateway/reference: 0.47 (target >= 0.7)')
    expect(report).toContain('FAIL  streams per second, gateway/reference: 0.60 (target >= 0.65)')
    expect(report).toContain('PASS  added p99 at 200 req/s (ms): 0.80 (target < 2)')
    expect(report).toContain('Peak RSS over the run (VmHWM): gateway 117.2 MiB, reference 58.6 MiB')
    expect(report).toContain(
      '10 s warm-up, then 10 s measured in 2 interleaved rounds (each after 1 s unmeasured)'
    )
    expect(report).toContain('gateway/reference in each round: 0.47 0.47')
    // The fixed-rate scenario runs every target at the same rate: no ratio per round.
    expect(report.match(/in each round/g)).toHaveLength(2)
    expect(report.trimEnd().endsWith('RESULT: FAIL')).toBe(true)
  })

  it('shows paced streams with their CPU per 1,000 chunks, the ratio in each round and the added delay', () => {
    const data = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    data.runs.push(pacedRun({ gatewayCpuSeconds: 0.28, gatewayP99: 3.2 }))
    const report = formatReport(data, judgeBenchmark(data))
    expect(report).toContain(
      'paced-streams: 500 streams at once, 200 chunks each, one every 20 ms, include_usage not asked'
    )
    expect(report).toMatch(
      /^gateway +2000 +1\.50 +1\.60 +3\.20 +6\.4 +20000 +14\.0 +0 +0 +200\.0 MiB +99% +70% +2%$/m
    )
    expect(report).toMatch(/^direct +2000 +0\.40 +0\.75 +1\.50 +3\.0 +20000 +- +0 +0 +78\.1 MiB/m)
    expect(report).toContain('gateway/reference CPU per chunk in each round: 1.40 1.40')
    expect(report).toContain(
      'paced-streams: CPU per chunk 1.40 (14.0 vs 10.0 ms/1k chunks), added delay p50 0.30 ms, p99 0.70 ms'
    )
    expect(report).toContain(
      'PASS  paced-streams: CPU per chunk, gateway/reference: 1.40 (target <= 1.5)'
    )
    expect(report).toContain('PASS  paced-streams: added delay p99 (ms): 0.70 (target < 1)')
    expect(report).toContain('PASS  paced-streams: gateway peak RSS (MiB): 200.00 (target < 300)')
  })

  it('shows the garbage collection pauses of the gateway and the reference, where they were read', () => {
    const data = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    data.runs.push(pacedRun({ gatewayCpuSeconds: 0.28, gatewayP99: 3.2 }))
    const paced = data.runs[data.runs.length - 1]
    ran(paced, 'gateway').gc = {
      scavenges: 91,
      scavengeMeanMs: 6.2,
      scavengesFrom4Ms: 0.571,
      scavengeMs: 564.2,
      fullCollections: 7,
      fullCollectionMs: 45.2,
    }
    ran(paced, 'reference').gc = {
      scavenges: 140,
      scavengeMeanMs: 2.654,
      scavengesFrom4Ms: 0.05,
      scavengeMs: 371.6,
      fullCollections: 8,
      fullCollectionMs: 56,
    }
    const report = formatReport(data, judgeBenchmark(data))
    expect(report).toContain(
      'garbage collection in the rounds: gateway 91 scavenges (mean 6.20 ms, 57% of 4 ms or longer), 7 full (45 ms); ' +
        'reference 140 scavenges (mean 2.65 ms, 5% of 4 ms or longer), 8 full (56 ms)'
    )
    // Not read (the fixtures' other scenarios): no line.
    expect(report.match(/garbage collection in the rounds/g)).toHaveLength(1)
  })

  it("shows the ratio of each round, where the machine's drift shows", () => {
    const data = result({ gatewayRate: 2400, gatewayStreams: 900, gatewayFixedP99: 2 })
    ran(data.runs[0], 'gateway').roundRates = [2000, 2600]
    ran(data.runs[0], 'reference').roundRates = [4000, 4000]
    expect(roundRatios(data.runs[0])).toEqual([0.5, 0.65])
    expect(formatReport(data, judgeBenchmark(data))).toContain(
      'gateway/reference in each round: 0.50 0.65'
    )
  })

  it('lists every failed request loudly', () => {
    const data = result({
      gatewayRate: 4000,
      gatewayStreams: 1500,
      gatewayFixedP99: 1,
      failures: ['max-throughput / gateway: 12 non-2xx responses ({"502":12})'],
    })
    const report = formatReport(data, judgeBenchmark(data))
    expect(report).toContain('FAILED REQUESTS')
    expect(report).toContain('FAIL  max-throughput / gateway: 12 non-2xx responses ({"502":12})')
    expect(report.trimEnd().endsWith('RESULT: FAIL')).toBe(true)
  })

  it('warns when core 1 set the pace, other processes were busy or the hypervisor took the cores', () => {
    const data = result({ gatewayRate: 2400, gatewayStreams: 900, gatewayFixedP99: 2 })
    ran(data.runs[0], 'reference').cpuPercent = {
      target: 80,
      mock: 55,
      loadGenerator: 41,
      redis: null,
      other: 3,
      steal: 24,
    }
    ran(data.runs[2], 'gateway').cpuPercent = {
      target: 70,
      mock: 20,
      loadGenerator: 30,
      redis: null,
      other: 35,
      steal: 4,
    }
    const report = formatReport(data, judgeBenchmark(data))
    expect(report).toContain(
      'max-throughput / reference: core 1 (mock + load generator) was 96% busy: it may have set the pace'
    )
    expect(report).toContain(
      'streaming / gateway: other processes used 35% of a core: the machine was not quiet'
    )
    expect(report).toContain(
      'max-throughput / reference: the hypervisor took 24% of a core from this machine (steal time): the machine was not quiet'
    )
    expect(report).not.toContain('streaming / gateway: the hypervisor')
  })

  it('judges the converted streams on CPU per upstream chunk, responses over messages, with the ratio of each round', () => {
    const data = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    // 23 upstream chunks per stream: 920 and 1,150 µs per stream are 40 and 50 µs per chunk.
    data.runs.push(convertedRun({ responses: [900, 940], messages: [1_000, 1_300] }))
    const verdict = judgeBenchmark(data)
    expect(verdict.conversion).toHaveLength(1)
    const [figures] = verdict.conversion
    expect(figures.responses.cpuMicrosPerChunk).toBeCloseTo(40)
    expect(figures.messages.cpuMicrosPerChunk).toBeCloseTo(50)
    expect(figures.cpuPerChunkResponsesVsMessages).toBeCloseTo(0.8)
    expect(figures.roundCpuPerChunkResponsesVsMessages).toEqual([0.9, 940 / 1_300])
    expect([figures.responses.streamsPerSecond, figures.messages.streamsPerSecond]).toEqual([
      1800, 2000,
    ])
    expect(verdict.checks.at(-1)).toEqual({
      name: 'streaming-converted: CPU per upstream chunk, responses/messages',
      value: figures.cpuPerChunkResponsesVsMessages,
      limit: '<= 1',
      pass: true,
    })
    const report = formatReport(data, verdict)
    const table = report.slice(report.indexOf('streaming-converted: 32 connections'))
    expect(table).toMatch(/^target +rate\/s .* CPU µs\/chunk +non-2xx/m)
    expect(table).toMatch(/^responses +1800 .* 40\.0 +0 +0 /m)
    expect(table).toMatch(/^messages +2000 .* 50\.0 +0 +0 /m)
    expect(table.slice(0, table.indexOf('\n\n'))).not.toMatch(/^(direct|reference|gateway) /m)
    expect(table).toContain('responses/messages CPU per upstream chunk in each round: 0.90 0.72')
    expect(report).toContain(
      'streaming-converted: CPU per upstream chunk responses/messages 0.80 (40.0 vs 50.0 µs), 1800 vs 2000 streams/s'
    )
    expect(report).toContain(
      'PASS  streaming-converted: CPU per upstream chunk, responses/messages: 0.80 (target <= 1)'
    )

    const costly = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    costly.runs.push(convertedRun({ responses: [1_200, 1_200], messages: [1_100, 1_100] }))
    expect(judgeBenchmark(costly).checks.at(-1)?.pass).toBe(false)
    expect(judgeBenchmark(costly).pass).toBe(false)
  })
})

describe('the prompt cache verdict', () => {
  const cacheRun = (
    name: 'cache-hit-memory' | 'cache-hit-redis',
    backend: 'memory' | 'redis',
    p99: { direct: number; gateway: number }
  ): ScenarioRun => ({
    scenario: {
      name,
      connections: 8,
      overallRate: 200,
      stream: false,
      cache: { backend, versus: 'direct' },
    },
    targets: { direct: target(200, p99.direct), gateway: target(200, p99.gateway) },
  })

  it('judges the added p99 of each backend against its own limit, and the miss/hit ratio of medians', () => {
    const data = result({ gatewayRate: 3000, gatewayStreams: 1050, gatewayFixedP99: 2 })
    data.runs.push(
      cacheRun('cache-hit-memory', 'memory', { direct: 3, gateway: 3.9 }),
      cacheRun('cache-hit-redis', 'redis', { direct: 3, gateway: 5.5 }),
      {
        scenario: {
          name: 'cache-hit-vs-miss',
          connections: 16,
          overallRate: 100,
          stream: false,
          cache: { backend: 'memory', versus: 'miss', upstreamLatencyMs: 50 },
        },
        // p50 and mean are a third of p99: 1 ms for a hit, 52 ms for a miss.
        targets: { hit: target(100, 3), miss: target(100, 156) },
      }
    )
    const verdict = judgeBenchmark(data)
    const checks = verdict.checks.filter((entry) => entry.name.startsWith('cache-'))
    expect(checks.map(({ name, limit, pass }) => ({ name, limit, pass }))).toEqual([
      {
        name: 'cache-hit-memory: added p99 of a memory hit over the direct call at 200 req/s (ms)',
        limit: '<= 1',
        pass: true,
      },
      {
        name: 'cache-hit-redis: added p99 of a redis hit over the direct call at 200 req/s (ms)',
        limit: '<= 2',
        pass: false,
      },
      {
        name: 'cache-hit-vs-miss: miss/hit median latency, upstream 50 ms',
        limit: '>= 20',
        pass: true,
      },
    ])
    expect(checks[0].value).toBeCloseTo(0.9)
    expect(checks[1].value).toBeCloseTo(2.5)
    expect(checks[2].value).toBeCloseTo(52)
    expect(verdict.pass).toBe(false)
    const report = formatReport(data, verdict)
    expect(report).toContain(
      'memory hit against the direct call: p50 1.30 against 1.00 ms (+0.30), p99 3.90 against 3.00 ms (+0.90)'
    )
    expect(report).toContain(
      'miss p50 52.00 / p99 156.00 ms, hit p50 1.00 / p99 3.00 ms: a hit 52.0 times faster at the median (52.0 times in the mean)'
    )
    // The Redis backend's table shows Redis's CPU.
    const redisTable = report.slice(report.indexOf('cache-hit-redis: 8 connections'))
    expect(redisTable.slice(0, redisTable.indexOf('\n\n'))).toMatch(/^target .* redis +other$/m)
  })
})
