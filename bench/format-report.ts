/**
 * The benchmark's verdict: a table per scenario, the ratios, and PASS/FAIL for each target of ARCHITECTURE.md's
 * "Benchmark" section (gateway throughput at least half the reference's, for plain calls and for streams; at most
 * 3 ms added to p99 at the fixed rate).
 */
import type { BenchmarkResult, ScenarioName, ScenarioRun, TargetName } from './run-benchmark.ts'
import { targetNames } from './run-benchmark.ts'

export type TargetCheck = { name: string; value: number; limit: string; pass: boolean }

export type BenchmarkVerdict = {
  ratios: {
    throughputVsReference: number
    throughputVsDirect: number
    streamsVsReference: number
    streamsVsDirect: number
    fixedRateAddedP99Ms: number
  }
  checks: TargetCheck[]
  pass: boolean
}

const runOf = (result: BenchmarkResult, name: ScenarioName): ScenarioRun | undefined =>
  result.runs.find((run) => run.scenario.name === name)

const ratio = (run: ScenarioRun | undefined, over: TargetName): number =>
  run === undefined ? Number.NaN : run.targets.gateway.requestsPerSecond / run.targets[over].requestsPerSecond

export const judgeBenchmark = (result: BenchmarkResult): BenchmarkVerdict => {
  const throughput = runOf(result, 'max-throughput')
  const streaming = runOf(result, 'streaming')
  const fixedRate = runOf(result, 'fixed-rate')
  const ratios = {
    throughputVsReference: ratio(throughput, 'reference'),
    throughputVsDirect: ratio(throughput, 'direct'),
    streamsVsReference: ratio(streaming, 'reference'),
    streamsVsDirect: ratio(streaming, 'direct'),
    fixedRateAddedP99Ms:
      fixedRate === undefined
        ? Number.NaN
        : (fixedRate.targets.gateway.latencyMs.p99 ?? Number.NaN) - (fixedRate.targets.reference.latencyMs.p99 ?? Number.NaN),
  }
  const checks: TargetCheck[] = [
    {
      name: 'max throughput, gateway/reference',
      value: ratios.throughputVsReference,
      limit: '>= 0.5',
      pass: ratios.throughputVsReference >= 0.5,
    },
    {
      name: 'streams per second, gateway/reference',
      value: ratios.streamsVsReference,
      limit: '>= 0.5',
      pass: ratios.streamsVsReference >= 0.5,
    },
    {
      name: `added p99 at ${fixedRate?.scenario.overallRate ?? '?'} req/s (ms)`,
      value: ratios.fixedRateAddedP99Ms,
      limit: '< 3',
      pass: ratios.fixedRateAddedP99Ms < 3,
    },
  ]
  return { ratios, checks, pass: result.failures.length === 0 && checks.every((check) => check.pass) }
}

const pad = (text: string, width: number): string => (text.length >= width ? text : text + ' '.repeat(width - text.length))
const padStart = (text: string, width: number): string => (text.length >= width ? text : ' '.repeat(width - text.length) + text)
const fixed = (value: number | null, digits: number): string =>
  value !== null && Number.isFinite(value) ? value.toFixed(digits) : 'n/a'
const mebibytes = (kib: number | null): string => (kib === null ? '-' : `${(kib / 1024).toFixed(1)} MiB`)
const percent = (value: number | null): string => (value === null ? '-' : `${value.toFixed(0)}%`)
const sum = (left: number | null, right: number | null): number | null => (left === null || right === null ? null : left + right)

/** Share of a core above which the mock and load generator (core 1) may have set the pace rather than the target. */
const saturatedPercent = 90
/** Share of a core used by anything else above which the figures are not to be trusted. */
const noisyPercent = 15

/** Runs whose figures say more about the machine than about the target. */
const warningsOf = (result: BenchmarkResult): string[] => {
  const warnings: string[] = []
  for (const run of result.runs) {
    for (const name of targetNames) {
      const { cpuPercent } = run.targets[name]
      const coreOne = sum(cpuPercent.mock, cpuPercent.loadGenerator)
      if (name !== 'direct' && coreOne !== null && coreOne >= saturatedPercent) {
        warnings.push(`${run.scenario.name} / ${name}: core 1 (mock + load generator) was ${coreOne.toFixed(0)}% busy: it may have set the pace`)
      }
      if (cpuPercent.other !== null && cpuPercent.other >= noisyPercent) {
        warnings.push(`${run.scenario.name} / ${name}: other processes used ${cpuPercent.other.toFixed(0)}% of a core: the machine was not quiet`)
      }
    }
  }
  return warnings
}

/** The gateway's rate over the reference's, round by round (the targets of a round ran back to back). */
export const roundRatios = (run: ScenarioRun): number[] => {
  const { gateway, reference } = run.targets
  return gateway.roundRates.map((rate, index) => rate / reference.roundRates[index])
}

const scenarioTitle = (run: ScenarioRun): string => {
  const { scenario } = run
  const rate = scenario.overallRate === undefined ? 'max rate' : `${scenario.overallRate} req/s`
  const unit = scenario.stream ? 'streams/s' : 'req/s'
  return `${scenario.name}: ${scenario.connections} connections, ${rate}${scenario.stream ? ', SSE read to the end' : ''} (${unit})`
}

export const formatReport = (result: BenchmarkResult, verdict: BenchmarkVerdict): string => {
  const lines: string[] = []
  const { environment, settings } = result
  lines.push(
    `Gatehouse benchmark, ${result.startedAt}: Node ${environment.node}, ${environment.cpus} cores, ${environment.pinningNote}`,
    `Per target and scenario: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s measured in ${settings.rounds} ` +
      `interleaved rounds (each after ${settings.roundLeadInSeconds} s unmeasured); model ${settings.model}; ${settings.streamChunks}-chunk streams`,
    'CPU: the target process, % of one core; core 1: mock + load generator; other: everything else on the machine',
    '',
  )
  const header = ['target', 'rate/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors', 'peak RSS', 'CPU', 'core 1', 'other']
  const widths = [10, 10, 8, 8, 8, 8, 8, 7, 11, 6, 7, 6]
  for (const run of result.runs) {
    lines.push(scenarioTitle(run))
    lines.push(header.map((cell, index) => (index === 0 ? pad(cell, widths[index]) : padStart(cell, widths[index]))).join(' '))
    for (const name of targetNames) {
      const target = run.targets[name]
      const cells = [
        name,
        fixed(target.requestsPerSecond, 0),
        fixed(target.latencyMs.p50, 2),
        fixed(target.latencyMs.p90, 2),
        fixed(target.latencyMs.p99, 2),
        fixed(target.latencyMs.max, 1),
        String(target.non2xx),
        String(target.errors + target.mismatches + target.warmupFailures),
        mebibytes(target.peakRssKb),
        percent(target.cpuPercent.target),
        percent(sum(target.cpuPercent.mock, target.cpuPercent.loadGenerator)),
        percent(target.cpuPercent.other),
      ]
      lines.push(cells.map((cell, index) => (index === 0 ? pad(cell, widths[index]) : padStart(cell, widths[index]))).join(' '))
    }
    // At a fixed rate every round runs at that rate: only the max-rate scenarios have a ratio per round.
    const perRound = run.scenario.overallRate === undefined ? roundRatios(run) : []
    if (perRound.length > 1) lines.push(`gateway/reference in each round: ${perRound.map((value) => fixed(value, 2)).join(' ')}`)
    lines.push('')
  }
  const { ratios } = verdict
  lines.push(
    `Peak RSS over the run (VmHWM): gateway ${mebibytes(result.peakRssKb.gateway)}, reference ${mebibytes(result.peakRssKb.reference)}`,
    `Ratios: throughput gateway/reference ${fixed(ratios.throughputVsReference, 2)}, gateway/direct ${fixed(ratios.throughputVsDirect, 2)}; ` +
      `streams gateway/reference ${fixed(ratios.streamsVsReference, 2)}, gateway/direct ${fixed(ratios.streamsVsDirect, 2)}; ` +
      `added p99 at fixed rate ${fixed(ratios.fixedRateAddedP99Ms, 2)} ms`,
    '',
    'Targets:',
  )
  for (const check of verdict.checks) {
    lines.push(`  ${check.pass ? 'PASS' : 'FAIL'}  ${check.name}: ${fixed(check.value, 2)} (target ${check.limit})`)
  }
  const warnings = warningsOf(result)
  if (warnings.length > 0) {
    lines.push('', 'WARNINGS (figures may be skewed):')
    for (const warning of warnings) lines.push(`  ${warning}`)
  }
  if (result.failures.length > 0) {
    lines.push('', `FAILED REQUESTS: every request must succeed (${result.failures.length} problems):`)
    for (const failure of result.failures) lines.push(`  FAIL  ${failure}`)
  }
  lines.push('', verdict.pass ? 'RESULT: PASS' : 'RESULT: FAIL')
  return lines.join('\n')
}
