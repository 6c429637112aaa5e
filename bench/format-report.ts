/**
 * The benchmark's verdict: a table per scenario, the ratios, and PASS/FAIL for each target of docs/benchmark.md
 * (gateway throughput at least 0.70 of the reference's for plain calls and 0.65 for streams; at most 2 ms added to
 * p99 at the fixed rate; for paced streams, at most 1.5 times the reference's CPU per chunk, under 1 ms added to the
 * chunks' p99 delay, and a peak RSS under 300 MiB). A scenario that did not run is not judged.
 */
import type { BenchmarkResult, ScenarioName, ScenarioRun, TargetName } from './run-benchmark.ts'
import { targetNames } from './run-benchmark.ts'

export type TargetCheck = { name: string; value: number; limit: string; pass: boolean }

export const benchTargets = {
  throughputVsReference: 0.7,
  streamsVsReference: 0.65,
  fixedRateAddedP99Ms: 2,
  pacedCpuPerChunkVsReference: 1.5,
  pacedAddedP99Ms: 1,
  pacedPeakRssMiB: 300,
} as const

/** A paced-streams scenario's figures: the gateway against the reference. */
export type PacedVerdict = {
  scenario: ScenarioName
  gatewayCpuMsPerThousandChunks: number
  referenceCpuMsPerThousandChunks: number
  /** Gateway CPU per chunk over the reference's. */
  cpuPerChunkVsReference: number
  /** Gateway delay minus reference delay, at the median and at p99 of every chunk's delay (ms). */
  addedP50Ms: number
  addedP99Ms: number
  /** The gateway's highest resident memory during the scenario's rounds (KiB). */
  gatewayPeakRssKb: number
}

export type BenchmarkVerdict = {
  ratios: {
    throughputVsReference: number
    throughputVsDirect: number
    streamsVsReference: number
    streamsVsDirect: number
    streamsNoUsageVsReference: number
    fixedRateAddedP99Ms: number
  }
  paced: PacedVerdict[]
  checks: TargetCheck[]
  pass: boolean
}

const runOf = (result: BenchmarkResult, name: ScenarioName): ScenarioRun | undefined =>
  result.runs.find((run) => run.scenario.name === name)

const ratio = (run: ScenarioRun | undefined, over: TargetName): number =>
  run === undefined
    ? Number.NaN
    : run.targets.gateway.requestsPerSecond / run.targets[over].requestsPerSecond

const orNaN = (value: number | null | undefined): number => value ?? Number.NaN

const pacedVerdictOf = (run: ScenarioRun): PacedVerdict => {
  const { gateway, reference } = run.targets
  const gatewayCpu = orNaN(gateway.chunks?.cpuMsPerThousandChunks)
  const referenceCpu = orNaN(reference.chunks?.cpuMsPerThousandChunks)
  return {
    scenario: run.scenario.name,
    gatewayCpuMsPerThousandChunks: gatewayCpu,
    referenceCpuMsPerThousandChunks: referenceCpu,
    cpuPerChunkVsReference: gatewayCpu / referenceCpu,
    addedP50Ms: orNaN(gateway.latencyMs.p50) - orNaN(reference.latencyMs.p50),
    addedP99Ms: orNaN(gateway.latencyMs.p99) - orNaN(reference.latencyMs.p99),
    gatewayPeakRssKb: orNaN(gateway.peakRssKb),
  }
}

const check = (
  name: string,
  value: number,
  limit: { atLeast?: number; below?: number; atMost?: number }
): TargetCheck => {
  if (limit.atLeast !== undefined)
    return { name, value, limit: `>= ${limit.atLeast}`, pass: value >= limit.atLeast }
  if (limit.atMost !== undefined)
    return { name, value, limit: `<= ${limit.atMost}`, pass: value <= limit.atMost }
  const below = limit.below ?? Number.NaN
  return { name, value, limit: `< ${below}`, pass: value < below }
}

export const judgeBenchmark = (result: BenchmarkResult): BenchmarkVerdict => {
  const throughput = runOf(result, 'max-throughput')
  const streaming = runOf(result, 'streaming')
  const streamingNoUsage = runOf(result, 'streaming-no-usage')
  const fixedRate = runOf(result, 'fixed-rate')
  const ratios = {
    throughputVsReference: ratio(throughput, 'reference'),
    throughputVsDirect: ratio(throughput, 'direct'),
    streamsVsReference: ratio(streaming, 'reference'),
    streamsVsDirect: ratio(streaming, 'direct'),
    streamsNoUsageVsReference: ratio(streamingNoUsage, 'reference'),
    fixedRateAddedP99Ms:
      fixedRate === undefined
        ? Number.NaN
        : orNaN(fixedRate.targets.gateway.latencyMs.p99) -
          orNaN(fixedRate.targets.reference.latencyMs.p99),
  }
  const checks: TargetCheck[] = []
  if (throughput !== undefined) {
    checks.push(
      check('max throughput, gateway/reference', ratios.throughputVsReference, {
        atLeast: benchTargets.throughputVsReference,
      })
    )
  }
  if (fixedRate !== undefined) {
    checks.push(
      check(
        `added p99 at ${fixedRate.scenario.overallRate ?? '?'} req/s (ms)`,
        ratios.fixedRateAddedP99Ms,
        { below: benchTargets.fixedRateAddedP99Ms }
      )
    )
  }
  if (streaming !== undefined) {
    checks.push(
      check('streams per second, gateway/reference', ratios.streamsVsReference, {
        atLeast: benchTargets.streamsVsReference,
      })
    )
  }
  if (streamingNoUsage !== undefined) {
    checks.push(
      check(
        'streams per second without include_usage, gateway/reference',
        ratios.streamsNoUsageVsReference,
        {
          atLeast: benchTargets.streamsVsReference,
        }
      )
    )
  }
  const paced = result.runs.filter((run) => run.scenario.paced !== undefined).map(pacedVerdictOf)
  for (const figures of paced) {
    checks.push(
      check(
        `${figures.scenario}: CPU per chunk, gateway/reference`,
        figures.cpuPerChunkVsReference,
        { atMost: benchTargets.pacedCpuPerChunkVsReference }
      ),
      check(`${figures.scenario}: added delay p99 (ms)`, figures.addedP99Ms, {
        below: benchTargets.pacedAddedP99Ms,
      }),
      check(`${figures.scenario}: gateway peak RSS (MiB)`, figures.gatewayPeakRssKb / 1024, {
        below: benchTargets.pacedPeakRssMiB,
      })
    )
  }
  return {
    ratios,
    paced,
    checks,
    pass: result.failures.length === 0 && checks.every((entry) => entry.pass),
  }
}

const pad = (text: string, width: number): string =>
  text.length >= width ? text : text + ' '.repeat(width - text.length)
const padStart = (text: string, width: number): string =>
  text.length >= width ? text : ' '.repeat(width - text.length) + text
const fixed = (value: number | null, digits: number): string =>
  value !== null && Number.isFinite(value) ? value.toFixed(digits) : 'n/a'
const mebibytes = (kib: number | null): string =>
  kib === null ? '-' : `${(kib / 1024).toFixed(1)} MiB`
const percent = (value: number | null): string => (value === null ? '-' : `${value.toFixed(0)}%`)
const sum = (left: number | null, right: number | null): number | null =>
  left === null || right === null ? null : left + right

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
        warnings.push(
          `${run.scenario.name} / ${name}: core 1 (mock + load generator) was ${coreOne.toFixed(0)}% busy: it may have set the pace`
        )
      }
      if (cpuPercent.other !== null && cpuPercent.other >= noisyPercent) {
        warnings.push(
          `${run.scenario.name} / ${name}: other processes used ${cpuPercent.other.toFixed(0)}% of a core: the machine was not quiet`
        )
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
  const usage = scenario.stream
    ? `, include_usage ${(scenario.includeUsage ?? true) ? 'asked' : 'not asked'}`
    : ''
  if (scenario.paced !== undefined) {
    return (
      `${scenario.name}: ${scenario.connections} streams at once, ${scenario.paced.chunks} chunks each, one every ` +
      `${scenario.paced.intervalMs} ms${usage} (chunks/s; latency = each chunk's delay from the mock's write to its arrival)`
    )
  }
  const rate = scenario.overallRate === undefined ? 'max rate' : `${scenario.overallRate} req/s`
  const unit = scenario.stream ? 'streams/s' : 'req/s'
  return `${scenario.name}: ${scenario.connections} connections, ${rate}${scenario.stream ? `, SSE read to the end${usage}` : ''} (${unit})`
}

const row = (cells: string[], widths: number[]): string =>
  cells
    .map((cell, index) => (index === 0 ? pad(cell, widths[index]) : padStart(cell, widths[index])))
    .join(' ')

const scenarioTable = (run: ScenarioRun): string[] => {
  const paced = run.scenario.paced !== undefined
  const header = [
    'target',
    paced ? 'chunks/s' : 'rate/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'non-2xx',
    'errors',
    'peak RSS',
    'CPU',
    'core 1',
    'other',
  ]
  const widths = [10, 10, 8, 8, 8, 8, 8, 7, 11, 6, 7, 6]
  if (paced) {
    header.splice(6, 0, 'streams', 'CPU ms/1k')
    widths.splice(6, 0, 8, 10)
  }
  const lines = [scenarioTitle(run), row(header, widths)]
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
    if (paced)
      cells.splice(
        6,
        0,
        String(target.ok),
        target.chunks?.cpuMsPerThousandChunks == null
          ? '-'
          : fixed(target.chunks.cpuMsPerThousandChunks, 1)
      )
    lines.push(row(cells, widths))
  }
  if (paced) {
    const gateway = run.targets.gateway.chunks?.roundCpuMsPerThousandChunks ?? []
    const reference = run.targets.reference.chunks?.roundCpuMsPerThousandChunks ?? []
    const perRound = gateway.map((value, index) =>
      value === null || reference[index] == null ? Number.NaN : value / (reference[index] as number)
    )
    if (perRound.length > 1)
      lines.push(
        `gateway/reference CPU per chunk in each round: ${perRound.map((value) => fixed(value, 2)).join(' ')}`
      )
  } else if (run.scenario.overallRate === undefined) {
    // At a fixed rate every round runs at that rate: only the max-rate scenarios have a ratio per round.
    const perRound = roundRatios(run)
    if (perRound.length > 1)
      lines.push(
        `gateway/reference in each round: ${perRound.map((value) => fixed(value, 2)).join(' ')}`
      )
  }
  lines.push('')
  return lines
}

/** The one-line summary of what ran: the ratios the targets judge. */
export const summaryLine = (result: BenchmarkResult, verdict: BenchmarkVerdict): string => {
  const ran = (name: ScenarioName): boolean => runOf(result, name) !== undefined
  const { ratios } = verdict
  const parts: string[] = []
  if (ran('max-throughput')) parts.push(`throughput ${fixed(ratios.throughputVsReference, 2)}`)
  if (ran('fixed-rate'))
    parts.push(`added p99 at fixed rate ${fixed(ratios.fixedRateAddedP99Ms, 2)} ms`)
  if (ran('streaming')) parts.push(`streams ${fixed(ratios.streamsVsReference, 2)}`)
  if (ran('streaming-no-usage'))
    parts.push(`streams without include_usage ${fixed(ratios.streamsNoUsageVsReference, 2)}`)
  for (const paced of verdict.paced) {
    parts.push(
      `${paced.scenario}: CPU per chunk ${fixed(paced.cpuPerChunkVsReference, 2)} ` +
        `(${fixed(paced.gatewayCpuMsPerThousandChunks, 1)} vs ${fixed(paced.referenceCpuMsPerThousandChunks, 1)} ms/1k chunks), ` +
        `added delay p50 ${fixed(paced.addedP50Ms, 2)} ms, p99 ${fixed(paced.addedP99Ms, 2)} ms`
    )
  }
  return `Gateway/reference: ${parts.join('; ')}`
}

export const formatReport = (result: BenchmarkResult, verdict: BenchmarkVerdict): string => {
  const lines: string[] = []
  const { environment, settings } = result
  lines.push(
    `Gatehouse benchmark, ${result.startedAt}: Node ${environment.node}, ${environment.cpus} cores, ${environment.pinningNote}`,
    `Per target and scenario: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s measured in ${settings.rounds} ` +
      `interleaved rounds (each after ${settings.roundLeadInSeconds} s unmeasured); model ${settings.model}; ${settings.streamChunks}-chunk streams at max rate`,
    'CPU: the target process, % of one core; core 1: mock + load generator; other: everything else on the machine',
    ''
  )
  for (const run of result.runs) lines.push(...scenarioTable(run))
  lines.push(
    `Peak RSS over the run (VmHWM): gateway ${mebibytes(result.peakRssKb.gateway)}, reference ${mebibytes(result.peakRssKb.reference)}`,
    `Throughput gateway/direct ${fixed(verdict.ratios.throughputVsDirect, 2)}, streams gateway/direct ${fixed(verdict.ratios.streamsVsDirect, 2)}`,
    summaryLine(result, verdict),
    '',
    'Targets:'
  )
  for (const entry of verdict.checks) {
    lines.push(
      `  ${entry.pass ? 'PASS' : 'FAIL'}  ${entry.name}: ${fixed(entry.value, 2)} (target ${entry.limit})`
    )
  }
  const warnings = warningsOf(result)
  if (warnings.length > 0) {
    lines.push('', 'WARNINGS (figures may be skewed):')
    for (const warning of warnings) lines.push(`  ${warning}`)
  }
  if (result.failures.length > 0) {
    lines.push(
      '',
      `FAILED REQUESTS: every request must succeed (${result.failures.length} problems):`
    )
    for (const failure of result.failures) lines.push(`  FAIL  ${failure}`)
  }
  lines.push('', verdict.pass ? 'RESULT: PASS' : 'RESULT: FAIL')
  return lines.join('\n')
}
