/**
 * The benchmark in miniature, in `npm test`: the same code as `npm run bench` with two interleaved 1-second rounds
 * per target, no warm-up and a few connections. It checks what must hold on any machine (every request through every target succeeds, the gateway
 * runs with auth on and really forwards to the mock) and leaves the performance targets to the full run, since CI
 * machines are too noisy to judge them.
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
  { name: 'streaming', connections: 4, stream: true },
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
    const runs = result.runs.flatMap((run) => targetNames.map((name) => ({ label: `${run.scenario.name}/${name}`, ...run.targets[name] })))
    expect(runs).toHaveLength(smokeScenarios.length * targetNames.length)
    expect(runs.filter((run) => run.ok === 0).map((run) => run.label)).toEqual([])
    expect(runs.filter((run) => run.non2xx + run.errors + run.mismatches > 0).map((run) => run.label)).toEqual([])
  })

  it('has the gateway forward every answered request to the mock upstream', () => {
    for (const run of result.runs) {
      const gateway = run.targets.gateway
      expect(gateway.upstreamRequests).toBeGreaterThanOrEqual(gateway.ok)
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
    const report = formatReport(result, verdict)
    expect(report).toMatch(/(PASS|FAIL) {2}max throughput, gateway\/reference/)
    expect(report).toMatch(/(PASS|FAIL) {2}streams per second, gateway\/reference/)
    expect(report).toMatch(/(PASS|FAIL) {2}added p99 at 50 req\/s/)
  })
})
