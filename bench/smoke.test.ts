/**
 * The benchmark in miniature, in `npm test`: the same code as `npm run bench` with two interleaved 1-second rounds
 * per target, no warm-up and a few connections (paced streams: 20 at once, of 10 chunks 10 ms apart). It checks what
 * must hold on any machine (every request through every target succeeds, every paced stream comes back with all its
 * chunks and usage exactly when asked, the gateway runs with auth on and really forwards to the mock) and leaves the
 * performance targets to the full run, since CI machines are too noisy to judge them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { prepareGatewayBin } from './prepare-gateway-bin.ts'
import { formatReport, judgeBenchmark } from './format-report.ts'
import type { BenchmarkResult, Scenario } from './run-benchmark.ts'
import { runBenchmark, targetNames } from './run-benchmark.ts'

const smokeScenarios: readonly Scenario[] = [
  { name: 'max-throughput', connections: 8, stream: false },
  { name: 'fixed-rate', connections: 4, overallRate: 50, stream: false },
  { name: 'streaming', connections: 4, stream: true, includeUsage: true },
  { name: 'streaming-no-usage', connections: 4, stream: true, includeUsage: false },
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
      durationSeconds: 2,
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
      targetNames.map((name) => ({ label: `${run.scenario.name}/${name}`, ...run.targets[name] }))
    )
    expect(runs).toHaveLength(smokeScenarios.length * targetNames.length)
    expect(runs.filter((run) => run.ok === 0).map((run) => run.label)).toEqual([])
    expect(
      runs.filter((run) => run.non2xx + run.errors + run.mismatches > 0).map((run) => run.label)
    ).toEqual([])
  })

  it('has the gateway forward every answered request to the mock upstream', () => {
    for (const run of result.runs) {
      const gateway = run.targets.gateway
      expect(gateway.upstreamRequests).toBeGreaterThanOrEqual(gateway.ok)
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
        const target = run.targets[name]
        // Each stream the mock started came back to the load generator with all its chunks (a short or leaky stream
        // is a mismatch, which the first test rules out).
        expect(target.ok, `${run.scenario.name}/${name}`).toBe(target.upstreamRequests)
        expect(target.chunks?.chunks, `${run.scenario.name}/${name}`).toBeGreaterThan(0)
        expect(target.latencyMs.p50).toBeGreaterThanOrEqual(0)
      }
      expect(run.targets.gateway.chunks?.cpuMsPerThousandChunks).toBeGreaterThan(0)
      expect(run.targets.reference.chunks?.cpuMsPerThousandChunks).toBeGreaterThan(0)
      expect(run.targets.direct.chunks?.cpuMsPerThousandChunks).toBeNull()
    }
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
    for (const name of ['paced-streams', 'paced-streams-no-usage']) {
      expect(report).toMatch(new RegExp(`(PASS|FAIL) {2}${name}: CPU per chunk, gateway/reference`))
      expect(report).toMatch(new RegExp(`(PASS|FAIL) {2}${name}: added delay p99 \\(ms\\)`))
      expect(report).toMatch(new RegExp(`(PASS|FAIL) {2}${name}: gateway peak RSS`))
    }
  })
})
