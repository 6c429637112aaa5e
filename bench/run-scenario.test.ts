import { describe, expect, it } from 'vitest'
import type { LoadGenerator } from './drive-load.ts'
import type { LoadJob, LoadRun } from './load-common.ts'
import { fullScenarios, roundOrder, runScenario } from './run-benchmark.ts'
import type { BenchmarkOptions, ScenarioTargets } from './run-benchmark.ts'
import type { BenchProcesses } from './start-bench-processes.ts'

/** The runs of the reference and the gateway, which every proxy scenario drives. */
const proxyRuns = (results: ScenarioTargets) => {
  const { reference, gateway } = results
  if (reference === undefined || gateway === undefined) throw new Error('a proxy did not run')
  return { reference, gateway }
}

/** A load generator that answers at once with a rate per target URL, recording every job it was given. */
const fakeLoadGenerator = (rates: Record<string, number[]>, served: { count: number }) => {
  const jobs: LoadJob[] = []
  const generator: LoadGenerator = {
    pid: process.pid,
    run: async (job) => {
      jobs.push(job)
      const origin = new URL(job.url).origin
      const rate = rates[origin].shift() ?? 1
      const ok = Math.round(rate * job.durationSeconds)
      served.count += ok
      const run: LoadRun = {
        ok,
        non2xx: 0,
        errors: 0,
        timeouts: 0,
        mismatches: 0,
        warmupFailures: 0,
        statusCodes: { '200': ok },
        measuredSeconds: job.durationSeconds,
        requestsPerSecond: ok / job.durationSeconds,
        latencyMs: { p50: 1, p90: 1, p99: 1, max: 1, mean: 1 },
        latencySamplesMs: Array.from({ length: ok }, () => 1),
      }
      return run
    },
    stop: async () => {},
  }
  return { generator, jobs }
}

const origins: Record<'direct' | 'reference' | 'gateway', string> = {
  direct: 'http://direct.test',
  reference: 'http://reference.test',
  gateway: 'http://gateway.test',
}

describe('runScenario', () => {
  it('warms each target up, then measures them in interleaved rounds of rotating order and merges the rounds', async () => {
    const served = { count: 0 }
    const rates = {
      // Warm-up figure first, then one per round: the gateway's rate follows the machine, as does the reference's.
      [origins.direct]: [1, 1000, 1000, 1000],
      [origins.reference]: [1, 400, 200, 400],
      [origins.gateway]: [1, 200, 100, 200],
    }
    const { generator, jobs } = fakeLoadGenerator(rates, served)
    const processes = {
      mock: { pid: process.pid },
      countMockRequests: async () => served.count,
    } as unknown as BenchProcesses
    const options: BenchmarkOptions = {
      scenarios: [],
      durationSeconds: 6,
      warmupSeconds: 3,
      rounds: 3,
      roundLeadInSeconds: 1,
      verifyBodies: false,
      gatewayLogPath: '/dev/null',
    }
    const targets = {
      direct: { url: origins.direct, pid: null, key: 'k' },
      reference: { url: origins.reference, pid: process.pid, key: 'k' },
      gateway: { url: origins.gateway, pid: process.pid, key: 'k' },
    }
    const results = await runScenario({
      processes,
      loadGenerator: generator,
      options,
      scenario: { name: 'max-throughput', connections: 4, stream: false },
      targets,
    })
    const { reference, gateway } = proxyRuns(results)

    const order = jobs.map(
      (job) => Object.entries(origins).find(([, origin]) => job.url.startsWith(origin))?.[0]
    )
    expect(order).toEqual([
      ...['direct', 'reference', 'gateway'], // warm-ups
      ...['direct', 'reference', 'gateway'],
      ...['reference', 'gateway', 'direct'],
      ...['gateway', 'direct', 'reference'],
    ])
    expect(jobs.slice(0, 3).map((job) => [job.durationSeconds, job.warmupSeconds])).toEqual([
      [3, 0],
      [3, 0],
      [3, 0],
    ])
    expect(jobs.slice(3).every((job) => job.durationSeconds === 2 && job.warmupSeconds === 1)).toBe(
      true
    )

    expect(gateway.roundRates).toEqual([200, 100, 200])
    expect(reference.roundRates).toEqual([400, 200, 400])
    expect(gateway.measuredSeconds).toBe(6)
    expect(gateway.requestsPerSecond).toBeCloseTo((500 * 2) / 6)
    expect(reference.requestsPerSecond / gateway.requestsPerSecond).toBeCloseTo(2)
    // Warm-up answers are not counted as measured, but the upstream saw them only in the warm-up: rounds only here.
    expect(gateway.ok).toBe(1000)
    expect(gateway.upstreamRequests).toBe(1000)
    expect(results.direct?.cpuPercent.target).toBeNull()
    expect(gateway.cpuPercent.target).not.toBeNull()
  })

  it('drives a tenant scenario through the reference and the gateway only, counting what reached the mock in the warm-up', async () => {
    const served = { count: 0 }
    const rates = {
      [origins.direct]: [1000, 1000, 1000],
      [origins.reference]: [300, 400, 200],
      [origins.gateway]: [150, 200, 100],
    }
    const { generator, jobs } = fakeLoadGenerator(rates, served)
    const processes = {
      mock: { pid: process.pid },
      countMockRequests: async () => served.count,
    } as unknown as BenchProcesses
    const options: BenchmarkOptions = {
      scenarios: [],
      durationSeconds: 4,
      warmupSeconds: 2,
      rounds: 2,
      roundLeadInSeconds: 1,
      verifyBodies: false,
      gatewayLogPath: '/dev/null',
    }
    const scenario = fullScenarios.find((candidate) => candidate.name === 'max-throughput-tenant')
    if (scenario === undefined) throw new Error('no max-throughput-tenant scenario')
    const results = await runScenario({
      processes,
      loadGenerator: generator,
      options,
      scenario,
      targets: {
        direct: { url: origins.direct, pid: null, key: 'upstream' },
        reference: { url: origins.reference, pid: process.pid, key: 'gh-tenant' },
        gateway: { url: origins.gateway, pid: process.pid, key: 'gh-tenant' },
      },
      redisPid: process.pid,
    })
    const { reference, gateway } = proxyRuns(results)

    const order = jobs.map(
      (job) => Object.entries(origins).find(([, origin]) => job.url.startsWith(origin))?.[0]
    )
    expect(order).toEqual([
      ...['reference', 'gateway'], // warm-ups
      ...['reference', 'gateway'],
      ...['gateway', 'reference'],
    ])
    expect(jobs.every((job) => job.headers.authorization === 'Bearer gh-tenant')).toBe(true)
    expect(results.direct).toBeUndefined()
    expect(gateway.roundRates).toEqual([200, 100])
    expect(gateway.warmupUpstreamRequests).toBe(300)
    expect(gateway.upstreamRequests).toBe(600)
    expect(reference.warmupUpstreamRequests).toBe(600)
    // Redis's CPU is read like the targets' (here this process, for both).
    expect(gateway.cpuPercent.redis).not.toBeNull()
    expect(gateway.cpuMicrosPerRequest.target).not.toBeNull()
    expect(gateway.cpuMicrosPerRequest.redis).not.toBeNull()
  })

  it('drives the converted streams through the gateway alone, its two APIs taking turns, with the CPU of each round', async () => {
    const served = { count: 0 }
    const { generator, jobs } = fakeLoadGenerator(
      { [origins.gateway]: [1, 1, 300, 200, 100, 150] },
      served
    )
    const processes = {
      mock: { pid: process.pid },
      countMockRequests: async () => served.count,
    } as unknown as BenchProcesses
    const scenario = fullScenarios.find((candidate) => candidate.name === 'streaming-converted')
    if (scenario === undefined) throw new Error('no streaming-converted scenario')
    const gateway = { url: origins.gateway, pid: process.pid, key: 'k' }
    const results = await runScenario({
      processes,
      loadGenerator: generator,
      options: {
        scenarios: [],
        durationSeconds: 4,
        warmupSeconds: 1,
        rounds: 2,
        roundLeadInSeconds: 0,
        verifyBodies: false,
        gatewayLogPath: '/dev/null',
      },
      scenario,
      targets: {
        responses: { ...gateway, api: 'responses' },
        messages: { ...gateway, api: 'messages' },
      },
    })

    expect(jobs.map((job) => new URL(job.url).pathname)).toEqual([
      ...['/v1/responses', '/v1/messages'], // warm-ups
      ...['/v1/responses', '/v1/messages'],
      ...['/v1/messages', '/v1/responses'],
    ])
    expect(jobs.map((job) => job.verify)).toEqual([
      ...['responses-sse', 'messages-sse'],
      ...['responses-sse', 'messages-sse'],
      ...['messages-sse', 'responses-sse'],
    ])
    expect(Object.keys(results).sort()).toEqual(['messages', 'responses'])
    expect(results.responses?.roundRates).toEqual([300, 150])
    expect(results.messages?.roundRates).toEqual([200, 100])
    expect(results.responses?.upstreamRequests).toBe(900)
    // One CPU reading per round, over what the mock answered in it.
    expect(results.responses?.roundCpuMicrosPerRequest).toHaveLength(2)
    expect(results.messages?.cpuMicrosPerRequest.target).not.toBeNull()
  })
})

describe('roundOrder', () => {
  it('rotates three targets so that each takes every place and none runs twice in a row across rounds', () => {
    const targets = ['direct', 'reference', 'gateway'] as const
    const rounds = [0, 1, 2, 3, 4, 5].map((round) => roundOrder(targets, round))
    const sequence = rounds.flat()
    for (let index = 1; index < sequence.length; index += 1)
      expect(sequence[index]).not.toBe(sequence[index - 1])
    for (const target of targets) {
      const places = rounds.map((order) => order.indexOf(target)).sort()
      expect(places).toEqual([0, 0, 1, 1, 2, 2])
    }
  })

  it('alternates two targets, each first in every other round', () => {
    expect([0, 1, 2, 3].map((round) => roundOrder(['a', 'b'], round))).toEqual([
      ['a', 'b'],
      ['b', 'a'],
      ['a', 'b'],
      ['b', 'a'],
    ])
  })
})
