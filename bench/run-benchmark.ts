/**
 * One benchmark run, parametrised so that `npm run bench` (full length) and the smoke test in `npm test` (a few
 * seconds, fewer connections) share every line: start the processes, check each target answers like the mock,
 * drive each scenario against the mock directly, the reference proxy and the gateway in interleaved rounds, collect
 * latency, errors and memory, stop everything.
 */
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { benchSettings } from './bench-settings.ts'
import { jobFor } from './bench-scenarios.ts'
import type { BenchTarget, Scenario, ScenarioName } from './bench-scenarios.ts'
import { startLoadGenerator } from './drive-load.ts'
import type { LoadGenerator } from './drive-load.ts'
import type { LoadResult, LoadRun } from './load-worker.ts'
import { cpuMsPerThousandChunks, mergeChunkFigures, mergeLoadRuns } from './load-common.ts'
import { preflight } from './preflight.ts'
import { checkPinning } from './spawn-pinned.ts'
import { readCpuSeconds, readMachineBusySeconds } from './read-cpu-seconds.ts'
import { repositoryRoot, startBenchProcesses } from './start-bench-processes.ts'
import type { BenchProcesses } from './start-bench-processes.ts'
import { readPeakRssKb, watchRss } from './watch-rss.ts'

export type { Scenario, ScenarioName } from './bench-scenarios.ts'
export { fullScenarios } from './bench-scenarios.ts'
export type TargetName = 'direct' | 'reference' | 'gateway'
export const targetNames: readonly TargetName[] = ['direct', 'reference', 'gateway']

export type BenchmarkOptions = {
  scenarios: readonly Scenario[]
  /** Measured seconds per target and scenario, split across `rounds`. */
  durationSeconds: number
  /** Unmeasured load on each target before its scenario's first round. */
  warmupSeconds: number
  /** Measured rounds per target and scenario, the targets taking turns (see `runScenario`). */
  rounds: number
  /**
   * Unmeasured load at the start of every round. The paced generator keeps its connections for the measured part;
   * autocannon opens new ones, so its lead-in warms the target, not the sockets.
   */
  roundLeadInSeconds: number
  /** Check every response body in the load generator (costs load-generator CPU: for short runs). */
  verifyBodies: boolean
  gatewayLogPath: string
  /** The gateway's CLI; default the repository's `bin/gatehouse.js` (over `dist/`, built by `npm run bench`). */
  gatewayBin?: string
  /** Node flags for the gateway process, e.g. `--cpu-prof`. */
  gatewayNodeOptions?: string[]
  onProgress?: (message: string) => void
}

export type TargetRun = LoadResult & {
  /** Requests per second of each measured round, in the order they ran (the spread shows the machine's noise). */
  roundRates: number[]
  /**
   * Paced streams only: the events counted in the windows, the target's CPU time over them, and CPU ms per 1,000
   * events over all rounds and in each round (`null` where not read: the direct call).
   */
  chunks?: {
    chunks: number
    cpuSeconds: number | null
    cpuMsPerThousandChunks: number | null
    roundCpuMsPerThousandChunks: (number | null)[]
    firstProblem?: string
  }
  /** Highest resident memory of the target's process during the run (KiB); `null` for the mock. */
  peakRssKb: number | null
  /** Requests the mock answered while this target was under load (rounds and their lead-ins). */
  upstreamRequests: number
  /**
   * Share of one core each process used during the target's rounds (lead-ins included), in percent. The target
   * should be near 100 at max rate; the mock and the load generator share core 1, so together near 100 means they set
   * the pace.
   */
  cpuPercent: {
    target: number | null
    mock: number | null
    loadGenerator: number | null
    /** Everything else on the machine (other users, this runner): more than a few percent skews the figures. */
    other: number | null
  }
}

export type ScenarioRun = { scenario: Scenario; targets: Record<TargetName, TargetRun> }

export type BenchmarkResult = {
  startedAt: string
  environment: {
    node: string
    cpus: number
    pinned: boolean
    pinningNote: string
  }
  settings: {
    durationSeconds: number
    warmupSeconds: number
    rounds: number
    roundLeadInSeconds: number
    model: string
    streamChunks: number
  }
  runs: ScenarioRun[]
  /** Kernel peak (`VmHWM`) over the whole run, KiB. */
  peakRssKb: { gateway: number | null; reference: number | null }
  /** Every non-2xx, error, timeout and body mismatch, and every target that answered without the mock. Must be empty. */
  failures: string[]
}

const failuresOf = (options: {
  scenario: ScenarioName
  target: TargetName
  run: TargetRun
}): string[] => {
  const { scenario, target, run } = options
  const label = `${scenario} / ${target}`
  const failures: string[] = []
  if (run.non2xx > 0)
    failures.push(`${label}: ${run.non2xx} non-2xx responses (${JSON.stringify(run.statusCodes)})`)
  if (run.errors > 0) failures.push(`${label}: ${run.errors} errors (${run.timeouts} timeouts)`)
  if (run.mismatches > 0) {
    const example =
      run.chunks?.firstProblem === undefined ? '' : ` (first: ${run.chunks.firstProblem})`
    failures.push(`${label}: ${run.mismatches} responses were not the mock's answer${example}`)
  }
  if (run.warmupFailures > 0)
    failures.push(`${label}: ${run.warmupFailures} failed requests during warm-up`)
  if (run.ok === 0) failures.push(`${label}: no successful response at all`)
  if (run.upstreamRequests < run.ok) {
    failures.push(
      `${label}: ${run.ok} answers but only ${run.upstreamRequests} requests reached the mock`
    )
  }
  return failures
}

const tailOf = (path: string): string => {
  try {
    return readFileSync(path, 'utf8').slice(-2_000)
  } catch {
    return '(no log)'
  }
}

/** CPU seconds used and wall seconds elapsed between a call and the returned function's call. */
const cpuMeter = (read: () => number | null) => {
  const startedAt = performance.now()
  const before = read()
  return (): { used: number; elapsed: number } | null => {
    const after = read()
    if (before === null || after === null) return null
    return { used: after - before, elapsed: (performance.now() - startedAt) / 1_000 }
  }
}

const processCpu = (pid: number | null) =>
  cpuMeter(() => (pid === null ? null : readCpuSeconds(pid)))

type CpuName = 'target' | 'mock' | 'loadGenerator' | 'machine'

/** What the rounds of one target add up to: the load runs, and what the processes did meanwhile. */
type TargetTally = {
  runs: LoadRun[]
  /** CPU and wall seconds per process over every round (`null` once a reading failed). */
  cpu: Record<CpuName, { used: number; elapsed: number } | null>
  upstreamRequests: number
  peakRssKb: number | null
  warmupFailures: number
}

const emptyTally = (): TargetTally => ({
  runs: [],
  cpu: {
    target: { used: 0, elapsed: 0 },
    mock: { used: 0, elapsed: 0 },
    loadGenerator: { used: 0, elapsed: 0 },
    machine: { used: 0, elapsed: 0 },
  },
  upstreamRequests: 0,
  peakRssKb: null,
  warmupFailures: 0,
})

/** The rounds a scenario runs: at least one, whole. */
const roundsOf = (options: BenchmarkOptions): number => Math.max(1, Math.floor(options.rounds))

/** One round against one target, added to its tally. */
const measureRoundWith =
  (context: {
    processes: BenchProcesses
    loadGenerator: LoadGenerator
    options: BenchmarkOptions
  }) =>
  async (run: {
    scenario: Scenario
    target: BenchTarget
    tally: TargetTally
    seconds: number
  }): Promise<void> => {
    const { processes, loadGenerator, options } = context
    const { scenario, target, tally } = run
    const servedBefore = await processes.countMockRequests()
    const rss = target.pid === null ? undefined : watchRss(target.pid)
    const meters: Record<CpuName, ReturnType<typeof cpuMeter>> = {
      target: processCpu(target.pid),
      mock: processCpu(processes.mock.pid),
      loadGenerator: processCpu(loadGenerator.pid),
      machine: cpuMeter(readMachineBusySeconds),
    }
    const load = await loadGenerator.run(
      jobFor({
        scenario,
        target,
        verifyBodies: options.verifyBodies,
        seconds: { measured: run.seconds, leadIn: options.roundLeadInSeconds },
      })
    )
    for (const name of Object.keys(meters) as CpuName[]) {
      const reading = meters[name]()
      const sum = tally.cpu[name]
      tally.cpu[name] =
        reading === null || sum === null
          ? null
          : { used: sum.used + reading.used, elapsed: sum.elapsed + reading.elapsed }
    }
    const peak = rss === undefined ? null : rss.stop()
    if (peak !== null) tally.peakRssKb = Math.max(tally.peakRssKb ?? 0, peak)
    tally.upstreamRequests += (await processes.countMockRequests()) - servedBefore
    tally.runs.push(load)
  }

const percentOf = (reading: { used: number; elapsed: number } | null): number | null =>
  reading === null || reading.elapsed === 0 ? null : (reading.used / reading.elapsed) * 100

/** The rounds of one target as one run: merged load figures, each round's rate, CPU shares over all rounds. */
const targetRunOf = (tally: TargetTally, measuresProcess: boolean): TargetRun => {
  const merged = mergeLoadRuns(tally.runs)
  const used = {
    target: measuresProcess ? percentOf(tally.cpu.target) : null,
    mock: percentOf(tally.cpu.mock),
    loadGenerator: percentOf(tally.cpu.loadGenerator),
  }
  const machine = percentOf(tally.cpu.machine)
  const ours = [measuresProcess ? used.target : 0, used.mock, used.loadGenerator]
  const other =
    machine === null || ours.includes(null)
      ? null
      : Math.max(0, machine - ours.reduce<number>((total, value) => total + (value ?? 0), 0))
  const chunks = mergeChunkFigures(tally.runs)
  return {
    ...merged,
    // Paced streams: chunks per second, as each round's rate is.
    ...(chunks === undefined || merged.measuredSeconds === 0
      ? {}
      : { requestsPerSecond: chunks.chunks / merged.measuredSeconds }),
    warmupFailures: merged.warmupFailures + tally.warmupFailures,
    roundRates: tally.runs.map((run) => run.requestsPerSecond),
    ...(chunks === undefined
      ? {}
      : {
          chunks: {
            ...chunks,
            roundCpuMsPerThousandChunks: tally.runs.map((run) =>
              run.chunkFigures === undefined
                ? null
                : cpuMsPerThousandChunks(run.chunkFigures.cpuSeconds, run.chunkFigures.chunks)
            ),
          },
        }),
    peakRssKb: tally.peakRssKb,
    upstreamRequests: tally.upstreamRequests,
    cpuPercent: { ...used, other },
  }
}

/**
 * One scenario: each target warmed up in turn, then `rounds` measured rounds in which every target takes its turn,
 * in alternating order (direct, reference, gateway; then gateway, reference, direct...). The machine's speed drifts
 * over tens of seconds (on shared cloud cores by as much as a factor of two); interleaving gives every target the
 * same share of fast and slow moments, so the ratios compare the targets rather than the moments.
 */
export const runScenario = async (context: {
  processes: BenchProcesses
  loadGenerator: LoadGenerator
  options: BenchmarkOptions
  scenario: Scenario
  targets: Record<TargetName, BenchTarget>
}): Promise<Record<TargetName, TargetRun>> => {
  const { loadGenerator, options, scenario, targets } = context
  const progress = options.onProgress ?? (() => {})
  const tallies = {
    direct: emptyTally(),
    reference: emptyTally(),
    gateway: emptyTally(),
  } satisfies Record<TargetName, TargetTally>
  if (options.warmupSeconds > 0) {
    progress(`${scenario.name}: ${options.warmupSeconds} s warm-up of each target`)
    for (const name of targetNames) {
      const warmup = await loadGenerator.run(
        jobFor({
          scenario,
          target: targets[name],
          verifyBodies: options.verifyBodies,
          seconds: { measured: options.warmupSeconds, leadIn: 0 },
        })
      )
      tallies[name].warmupFailures += warmup.non2xx + warmup.errors + warmup.mismatches
    }
  }
  const rounds = roundsOf(options)
  const seconds = options.durationSeconds / rounds
  const measureRound = measureRoundWith(context)
  progress(`${scenario.name}: ${rounds} rounds of ${seconds} s per target, interleaved`)
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? targetNames : [...targetNames].reverse()
    for (const name of order)
      await measureRound({ scenario, target: targets[name], tally: tallies[name], seconds })
  }
  return {
    direct: targetRunOf(tallies.direct, false),
    reference: targetRunOf(tallies.reference, true),
    gateway: targetRunOf(tallies.gateway, true),
  }
}

export const runBenchmark = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const startedAt = new Date().toISOString()
  const pinning = checkPinning()
  const processes = await startBenchProcesses({
    gatewayLogPath: options.gatewayLogPath,
    gatewayBin: options.gatewayBin,
    gatewayNodeOptions: options.gatewayNodeOptions,
  })
  let loadGenerator: LoadGenerator | undefined
  try {
    loadGenerator = await startLoadGenerator({ cwd: repositoryRoot })
    const targets: Record<TargetName, BenchTarget> = {
      direct: { url: processes.mock.url, pid: null, key: benchSettings.upstreamApiKey },
      reference: {
        url: processes.reference.url,
        pid: processes.reference.pid,
        key: benchSettings.masterKey,
      },
      gateway: {
        url: processes.gateway.url,
        pid: processes.gateway.pid,
        key: benchSettings.masterKey,
      },
    }
    for (const name of targetNames) {
      await preflight({
        name,
        url: targets[name].url,
        key: targets[name].key,
        requiresKey: name === 'gateway',
      })
    }

    const runs: ScenarioRun[] = []
    const failures: string[] = []
    for (const scenario of options.scenarios) {
      const results = await runScenario({ processes, loadGenerator, options, scenario, targets })
      for (const name of targetNames) {
        failures.push(...failuresOf({ scenario: scenario.name, target: name, run: results[name] }))
      }
      runs.push({ scenario, targets: results })
      const dead = [processes.reference, processes.gateway].find(
        ({ child }) => child.exitCode !== null || child.signalCode !== null
      )
      if (dead !== undefined) {
        const name = dead === processes.gateway ? 'gateway' : 'reference'
        const how = dead.child.signalCode ?? `code ${dead.child.exitCode}`
        const log =
          name === 'gateway' ? `; the end of its log:\n${tailOf(processes.gateway.logPath)}` : ''
        failures.push(`the ${name} process exited (${how}) during ${scenario.name}${log}`)
        break
      }
    }

    return {
      startedAt,
      environment: {
        node: process.version,
        cpus: availableParallelism(),
        pinned: pinning.available,
        pinningNote: pinning.available
          ? 'gateway and reference on core 0; mock and load generator on core 1'
          : `not pinned: ${pinning.reason}`,
      },
      settings: {
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        rounds: roundsOf(options),
        roundLeadInSeconds: options.roundLeadInSeconds,
        model: benchSettings.model,
        streamChunks: benchSettings.streamChunks,
      },
      runs,
      peakRssKb: {
        gateway: readPeakRssKb(processes.gateway.pid),
        reference: readPeakRssKb(processes.reference.pid),
      },
      failures,
    }
  } finally {
    await Promise.all([processes.stop(), loadGenerator?.stop()])
  }
}
