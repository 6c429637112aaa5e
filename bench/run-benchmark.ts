/**
 * One benchmark run, parametrised so that `npm run bench` (full length) and the smoke test in `npm test` (a few
 * seconds, fewer connections) share every line: start the processes, check each target answers like the mock,
 * drive each scenario against the mock directly, the reference proxy and the gateway in interleaved rounds, collect
 * latency, errors and memory, stop everything.
 */
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { benchSettings, mockAnswer } from './bench-settings.ts'
import { streamEvents } from './lean-mock-upstream.ts'
import {
  allTargetNames,
  cacheRequestBody,
  jobFor,
  targetNames,
  targetsOf,
  uniqueRequestMarker,
} from './bench-scenarios.ts'
import type { BenchTarget, Scenario, ScenarioName, TargetName } from './bench-scenarios.ts'
import { benchTenantLimits, createBenchTenant } from './create-bench-tenant.ts'
import type { BenchTenant } from './create-bench-tenant.ts'
import { checkTenantUsage } from './check-tenant-usage.ts'
import type { TenantUsageCheck } from './check-tenant-usage.ts'
import { startLoadGenerator } from './drive-load.ts'
import type { LoadGenerator } from './drive-load.ts'
import type { LoadResult, LoadRun, WorkerJob } from './load-worker.ts'
import {
  cpuMsPerThousandChunks,
  mergeChunkFigures,
  mergeLoadRuns,
  summariseLatency,
} from './load-common.ts'
import { preflight, preflightConversion } from './preflight.ts'
import { prepareBenchStores } from './prepare-bench-stores.ts'
import type { BenchDatabase, BenchStores } from './prepare-bench-stores.ts'
import { checkPinning } from './spawn-pinned.ts'
import {
  readCpuSeconds,
  readMachineBusySeconds,
  readMachineStealSeconds,
} from './read-cpu-seconds.ts'
import { primeCache } from './prime-cache.ts'
import {
  cacheGatewayConfig,
  repositoryRoot,
  startBenchProcesses,
  startCacheGateway,
} from './start-bench-processes.ts'
import type { BenchProcess, BenchProcesses } from './start-bench-processes.ts'
import { readPeakRssKb, watchRss } from './watch-rss.ts'
import {
  addGcTotals,
  gcMeter,
  summarizeGc,
  type GcSummary,
  type GcTotals,
} from './read-gc-pauses.ts'

export type { Scenario, ScenarioName, TargetName } from './bench-scenarios.ts'
export {
  allTargetNames,
  conversionTargetNames,
  fullScenarios,
  hitMissTargetNames,
  targetNames,
  targetsOf,
} from './bench-scenarios.ts'

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
  /** Node flags for the reference proxy, e.g. `--trace-gc`, to study it beside the gateway. */
  referenceNodeOptions?: string[]
  /** The gateway's SQL store (`prepare-bench-stores.ts`): a SQLite file (default) or a PostgreSQL database. */
  database?: BenchDatabase
  /**
   * The gateway's longest wait for Redis (`redis.timeoutMs`; default the gateway's own, 50 ms). Past it a tenant-key
   * request is refused (503), which fails the run: the smoke test on a loaded CI machine allows more.
   */
  redisTimeoutMs?: number
  onProgress?: (message: string) => void
  /**
   * A second reference proxy stands in for the gateway (`BENCH_A_A=1`): an A/A run, the reference against itself,
   * whose differences are the method's own noise. Only for the scenarios of the reference (no tenant key, no
   * conversion, no cache).
   */
  gatewayIsReference?: boolean
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
    /** Each round's p99 of the chunks' delay (ms), paired round by round with the other target's. */
    roundP99Ms: (number | null)[]
    firstProblem?: string
  }
  /** Highest resident memory of the target's process during the run (KiB); `null` for the mock. */
  peakRssKb: number | null
  /**
   * The target process's garbage collection pauses over its rounds (lead-ins included), from `gc-probe.mjs`; `null`
   * for the direct call, or when a reading failed.
   */
  gc: GcSummary | null
  /** Requests the mock answered while this target was under load (rounds and their lead-ins). */
  upstreamRequests: number
  /** Requests the mock answered during the target's warm-up. */
  warmupUpstreamRequests: number
  /**
   * CPU time per request the mock answered during the rounds (lead-ins included), in µs: the target's process (`null`
   * for the direct call) and Redis's (`null` when not read: no Redis, or not on this machine).
   */
  cpuMicrosPerRequest: { target: number | null; redis: number | null }
  /** The target process's CPU time per request the mock answered, in each round (lead-in included), µs. */
  roundCpuMicrosPerRequest: (number | null)[]
  /**
   * Share of one core each process used during the target's rounds (lead-ins included), in percent. The target
   * should be near 100 at max rate; the mock and the load generator share core 1, so together near 100 means they set
   * the pace.
   */
  cpuPercent: {
    target: number | null
    mock: number | null
    loadGenerator: number | null
    /** The Redis server, where the gateway checks tenant keys' limits (`null` when not read). */
    redis: number | null
    /** Everything else on the machine (other users, this runner): more than a few percent skews the figures. */
    other: number | null
    /**
     * Steal time: what the hypervisor took from this virtual machine's cores while they were ready to run (`null` when
     * not read). Not in `other`: no process here used it, but it skews the figures as much.
     */
    steal: number | null
  }
}

/**
 * The runs of the targets a scenario drove (`targetsOf`): the direct call, the reference and the gateway; the
 * tenant scenarios leave the direct call out; `streaming-converted` drives `responses` and `messages` only.
 */
export type ScenarioTargets = Partial<Record<TargetName, TargetRun>>

export type ScenarioRun = { scenario: Scenario; targets: ScenarioTargets }

export type { TenantUsageCheck } from './check-tenant-usage.ts'

export type BenchmarkResult = {
  startedAt: string
  environment: {
    node: string
    cpus: number
    pinned: boolean
    pinningNote: string
    /** A second reference proxy stood in for the gateway (`BenchmarkOptions.gatewayIsReference`). */
    gatewayIsReference?: boolean
  }
  settings: {
    durationSeconds: number
    warmupSeconds: number
    rounds: number
    roundLeadInSeconds: number
    model: string
    streamChunks: number
    /** Chunks the mock sends per full-rate stream with usage (role, content, finish, usage; `[DONE]` aside). */
    upstreamChunksPerStream: number
  }
  runs: ScenarioRun[]
  /**
   * Where the gateway kept its stores: the SQL dialect, and the Redis key prefix when a tenant scenario ran; the
   * prompt cache's Redis key prefix when `cache-hit-redis` ran.
   */
  stores: {
    database: BenchDatabase
    redisKeyPrefix: string | null
    cacheRedisKeyPrefix: string | null
  }
  /** When a tenant scenario ran: its usage as recorded, after the last scenario. */
  tenantUsage: TenantUsageCheck | null
  /** Kernel peak (`VmHWM`) over the whole run, KiB. */
  peakRssKb: { gateway: number | null; reference: number | null }
  /** Every non-2xx, error, timeout and body mismatch, and every target that answered without the mock. Must be empty. */
  failures: string[]
}

const failuresOf = (options: {
  scenario: ScenarioName
  target: TargetName
  run: TargetRun
  tenant: boolean
  /** Every answer came from the prompt cache: none may have reached the mock. */
  hits: boolean
}): string[] => {
  const { scenario, target, run } = options
  const label = `${scenario} / ${target}`
  const failures: string[] = []
  if (run.non2xx > 0) {
    // A tenant key's 503: a limit or budget check Redis did not answer in time (the bench's gateway fails closed).
    const hint =
      (run.statusCodes['503'] ?? 0) > 0 && options.tenant
        ? ': 503 is a check Redis did not answer within redis.timeoutMs (BENCH_REDIS_TIMEOUT_MS; gateway.log says when)'
        : ''
    failures.push(
      `${label}: ${run.non2xx} non-2xx responses (${JSON.stringify(run.statusCodes)})${hint}`
    )
  }
  if (run.errors > 0) failures.push(`${label}: ${run.errors} errors (${run.timeouts} timeouts)`)
  if (run.mismatches > 0) {
    const first = run.firstMismatch ?? run.chunks?.firstProblem
    const example = first === undefined ? '' : ` (first: ${first})`
    failures.push(`${label}: ${run.mismatches} responses were not the mock's answer${example}`)
  }
  if (run.warmupFailures > 0) {
    const example =
      run.mismatches === 0 && run.firstMismatch !== undefined
        ? ` (first mismatch: ${run.firstMismatch})`
        : ''
    failures.push(`${label}: ${run.warmupFailures} failed requests during warm-up${example}`)
  }
  if (run.ok === 0) failures.push(`${label}: no successful response at all`)
  if (options.hits) {
    if (run.upstreamRequests > 0)
      failures.push(
        `${label}: ${run.upstreamRequests} requests reached the mock during the rounds, where every answer should have been a hit`
      )
  } else if (run.upstreamRequests < run.ok) {
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

type CpuName = 'target' | 'mock' | 'loadGenerator' | 'redis' | 'machine' | 'steal'

/** What the rounds of one target add up to: the load runs, and what the processes did meanwhile. */
type TargetTally = {
  runs: LoadRun[]
  /** CPU and wall seconds per process over every round (`null` once a reading failed). */
  cpu: Record<CpuName, { used: number; elapsed: number } | null>
  upstreamRequests: number
  warmupUpstreamRequests: number
  peakRssKb: number | null
  /** The target process's garbage collection pauses over every round (`null` once a reading failed). */
  gc: GcTotals | null
  warmupFailures: number
  /** The target process's CPU µs per request the mock answered, round by round. */
  roundCpuMicrosPerRequest: (number | null)[]
  /** What was wrong with the first body that failed its check in the warm-up. */
  firstWarmupMismatch?: string
}

const emptyTally = (): TargetTally => ({
  runs: [],
  cpu: {
    target: { used: 0, elapsed: 0 },
    mock: { used: 0, elapsed: 0 },
    loadGenerator: { used: 0, elapsed: 0 },
    redis: { used: 0, elapsed: 0 },
    machine: { used: 0, elapsed: 0 },
    steal: { used: 0, elapsed: 0 },
  },
  upstreamRequests: 0,
  warmupUpstreamRequests: 0,
  peakRssKb: null,
  gc: {},
  warmupFailures: 0,
  roundCpuMicrosPerRequest: [],
})

/** The rounds a scenario runs: at least one, whole. */
const roundsOf = (options: BenchmarkOptions): number => Math.max(1, Math.floor(options.rounds))

let phases = 0

/**
 * A paced job tagged with a phase of its own (`metadata.bench_phase`), and how many requests of it reached the mock:
 * counted by the mock per tag, so that a request of another phase that reaches the mock late (a stream of the phase
 * before) is not charged to this one. Other jobs are counted as the difference of the mock's total around them.
 */
const countedJob = async (
  job: WorkerJob,
  processes: BenchProcesses
): Promise<{ job: WorkerJob; served: () => Promise<number> }> => {
  if (job.pacedStreams !== undefined) {
    const phase = `${process.pid}-${(phases += 1)}`
    return {
      job: { ...job, pacedStreams: { ...job.pacedStreams, phase } },
      served: () => processes.countMockRequests(phase),
    }
  }
  const before = await processes.countMockRequests()
  return { job, served: async () => (await settledMockCount(processes)) - before }
}

/**
 * The mock's count once the requests still in flight when the load generator stopped have reached it: read until two
 * reads 50 ms apart agree (at most 2 s). Read at once, a request the target sent just before the round ended and the
 * mock answered just after would count in the next target's window, while the target records it (a tenant key's
 * usage event, a success) in this one.
 */
const settledMockCount = async (processes: BenchProcesses): Promise<number> => {
  let count = await processes.countMockRequests()
  for (let waited = 0; waited < 2_000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    const next = await processes.countMockRequests()
    if (next === count) return count
    count = next
  }
  return count
}

/** One round against one target, added to its tally. */
const measureRoundWith =
  (context: {
    processes: BenchProcesses
    loadGenerator: LoadGenerator
    options: BenchmarkOptions
    redisPid?: number | null
  }) =>
  async (run: {
    scenario: Scenario
    target: BenchTarget
    tally: TargetTally
    seconds: number
  }): Promise<void> => {
    const { processes, loadGenerator, options } = context
    const { scenario, target, tally } = run
    const counted = await countedJob(
      jobFor({
        scenario,
        target,
        verifyBodies: options.verifyBodies,
        seconds: { measured: run.seconds, leadIn: options.roundLeadInSeconds },
      }),
      processes
    )
    const rss = target.pid === null ? undefined : watchRss(target.pid)
    const gc = gcMeter(processes.gcDirectory, target.pid)
    const meters: Record<CpuName, ReturnType<typeof cpuMeter>> = {
      target: processCpu(target.pid),
      mock: processCpu(processes.mock.pid),
      loadGenerator: processCpu(loadGenerator.pid),
      redis: processCpu(context.redisPid ?? null),
      machine: cpuMeter(readMachineBusySeconds),
      steal: cpuMeter(readMachineStealSeconds),
    }
    const load = await loadGenerator.run(counted.job)
    const readings = {} as Record<CpuName, ReturnType<ReturnType<typeof cpuMeter>>>
    for (const name of Object.keys(meters) as CpuName[]) {
      const reading = meters[name]()
      readings[name] = reading
      const sum = tally.cpu[name]
      tally.cpu[name] =
        reading === null || sum === null
          ? null
          : { used: sum.used + reading.used, elapsed: sum.elapsed + reading.elapsed }
    }
    tally.gc = addGcTotals(tally.gc, gc())
    const peak = rss === undefined ? null : rss.stop()
    if (peak !== null) tally.peakRssKb = Math.max(tally.peakRssKb ?? 0, peak)
    const served = await counted.served()
    tally.upstreamRequests += served
    tally.roundCpuMicrosPerRequest.push(
      target.pid === null ? null : microsPerRequest(readings.target, served)
    )
    tally.runs.push(load)
  }

const percentOf = (reading: { used: number; elapsed: number } | null): number | null =>
  reading === null || reading.elapsed === 0 ? null : (reading.used / reading.elapsed) * 100

const microsPerRequest = (reading: { used: number } | null, requests: number): number | null =>
  reading === null || requests === 0 ? null : (reading.used / requests) * 1e6

/** The rounds of one target as one run: merged load figures, each round's rate, CPU shares over all rounds. */
const targetRunOf = (tally: TargetTally, measuresProcess: boolean): TargetRun => {
  const merged = mergeLoadRuns(tally.runs)
  const used = {
    target: measuresProcess ? percentOf(tally.cpu.target) : null,
    mock: percentOf(tally.cpu.mock),
    loadGenerator: percentOf(tally.cpu.loadGenerator),
    redis: percentOf(tally.cpu.redis),
  }
  const machine = percentOf(tally.cpu.machine)
  const steal = percentOf(tally.cpu.steal)
  // Redis counts as ours when its CPU was read; otherwise it is part of "other", as on a remote host it is not. Steal
  // time is in the machine's busy time but nobody's here: counted apart.
  const ours = [
    measuresProcess ? used.target : 0,
    used.mock,
    used.loadGenerator,
    used.redis ?? 0,
    steal ?? 0,
  ]
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
    ...((merged.firstMismatch ?? tally.firstWarmupMismatch) === undefined
      ? {}
      : { firstMismatch: merged.firstMismatch ?? tally.firstWarmupMismatch }),
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
            roundP99Ms: tally.runs.map((run) => summariseLatency(run.latencySamplesMs).p99),
          },
        }),
    peakRssKb: tally.peakRssKb,
    gc: summarizeGc(tally.gc),
    upstreamRequests: tally.upstreamRequests,
    warmupUpstreamRequests: tally.warmupUpstreamRequests,
    cpuMicrosPerRequest: {
      target: measuresProcess ? microsPerRequest(tally.cpu.target, tally.upstreamRequests) : null,
      redis: microsPerRequest(tally.cpu.redis, tally.upstreamRequests),
    },
    roundCpuMicrosPerRequest: measuresProcess ? tally.roundCpuMicrosPerRequest : [],
    cpuPercent: { ...used, other, steal },
  }
}

/**
 * The order of the targets in round `round` (from 0). Three or more take turns in a rotation (direct, reference,
 * gateway; then reference, gateway, direct; then gateway, direct, reference...): each takes every place in turn, and
 * none runs twice in a row across a round's end. The alternation used before (direct, reference, gateway; then
 * gateway, reference, direct) kept the reference in the middle and ran the gateway twice in a row every other round;
 * in three of four A/A runs (a second reference in the gateway's place) that place was a few milliseconds faster at
 * the median of the paced streams, which may be noise (docs/benchmark.md, 2026-12-08, early morning), but the
 * rotation is even either way. Two targets alternate, which is already even: each runs twice in a row equally often.
 */
export const roundOrder = <T>(targets: readonly T[], round: number): readonly T[] => {
  if (targets.length < 3) return round % 2 === 0 ? targets : [...targets].reverse()
  const shift = round % targets.length
  return [...targets.slice(shift), ...targets.slice(0, shift)]
}

/**
 * One scenario: each target warmed up in turn, then `rounds` measured rounds in which every target takes its turn,
 * in rotating order (`roundOrder`). The machine's speed drifts over tens of seconds (on shared cloud cores by as much
 * as a factor of two); interleaving gives every target the same share of fast and slow moments, so the ratios compare
 * the targets rather than the moments. A tenant scenario drives the reference and the gateway only (`targetsOf`).
 */
export const runScenario = async (context: {
  processes: BenchProcesses
  loadGenerator: LoadGenerator
  options: BenchmarkOptions
  scenario: Scenario
  targets: Partial<Record<TargetName, BenchTarget>>
  /** Redis's process, whose CPU each round reads beside the targets'. */
  redisPid?: number | null
}): Promise<ScenarioTargets> => {
  const { processes, loadGenerator, options, scenario, targets } = context
  const progress = options.onProgress ?? (() => {})
  const driven = targetsOf(scenario)
  const targetOf = (name: TargetName): BenchTarget => {
    const target = targets[name]
    if (target === undefined) throw new Error(`${scenario.name}: no ${name} target`)
    return target
  }
  const tallies = Object.fromEntries(driven.map((name) => [name, emptyTally()])) as Record<
    TargetName,
    TargetTally
  >
  if (options.warmupSeconds > 0) {
    progress(`${scenario.name}: ${options.warmupSeconds} s warm-up of each target`)
    for (const name of driven) {
      const counted = await countedJob(
        jobFor({
          scenario,
          target: targetOf(name),
          verifyBodies: options.verifyBodies,
          seconds: { measured: options.warmupSeconds, leadIn: 0 },
        }),
        processes
      )
      const warmup = await loadGenerator.run(counted.job)
      tallies[name].warmupFailures += warmup.non2xx + warmup.errors + warmup.mismatches
      tallies[name].firstWarmupMismatch ??= warmup.firstMismatch
      tallies[name].warmupUpstreamRequests += await counted.served()
    }
  }
  const rounds = roundsOf(options)
  const seconds = options.durationSeconds / rounds
  const measureRound = measureRoundWith(context)
  progress(`${scenario.name}: ${rounds} rounds of ${seconds} s per target, interleaved`)
  for (let round = 0; round < rounds; round += 1) {
    const order = roundOrder(driven, round)
    for (const name of order)
      await measureRound({ scenario, target: targetOf(name), tally: tallies[name], seconds })
  }
  return Object.fromEntries(
    driven.map((name) => [name, targetRunOf(tallies[name], name !== 'direct')])
  ) as ScenarioTargets
}

/**
 * The targets, with `key` for the gateway and the reference (which swaps any key for the upstream's): the master
 * key, or in the tenant scenarios the tenant key. `responses` and `messages` are the gateway's process, called
 * through those APIs.
 */
const targetsFor = (
  processes: BenchProcesses,
  key: string
): Partial<Record<TargetName, BenchTarget>> => {
  const gateway = { url: processes.gateway.url, pid: processes.gateway.pid, key }
  return {
    direct: { url: processes.mock.url, pid: null, key: benchSettings.upstreamApiKey },
    reference: { url: processes.reference.url, pid: processes.reference.pid, key },
    gateway,
    responses: { ...gateway, api: 'responses' },
    messages: { ...gateway, api: 'messages' },
  }
}

type CacheBackend = NonNullable<Scenario['cache']>['backend']
type CacheGateway = Awaited<ReturnType<typeof startCacheGateway>>

/**
 * A cache scenario's targets: the mock directly, and its cache gateway as `gateway` (every answer a hit) or as `hit`
 * and `miss`.
 */
const cacheTargetsFor = (
  processes: BenchProcesses,
  gateway: CacheGateway
): Partial<Record<TargetName, BenchTarget>> => {
  const cached = { url: gateway.url, pid: gateway.pid, key: benchSettings.masterKey }
  return {
    direct: { url: processes.mock.url, pid: null, key: benchSettings.upstreamApiKey },
    gateway: { ...cached, cache: 'hit' },
    hit: { ...cached, cache: 'hit' },
    miss: { ...cached, cache: 'miss' },
  }
}

/** `gateway.log` → `gateway-cache-memory.log`. */
const cacheLogPath = (gatewayLogPath: string, backend: CacheBackend): string =>
  gatewayLogPath.endsWith('.log')
    ? `${gatewayLogPath.slice(0, -'.log'.length)}-cache-${backend}.log`
    : `${gatewayLogPath}-cache-${backend}`

export const runBenchmark = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const startedAt = new Date().toISOString()
  if (options.gatewayIsReference === true) {
    const gatewayOnly = options.scenarios.filter(
      (scenario) =>
        scenario.tenant !== undefined || scenario.converted === true || scenario.cache !== undefined
    )
    if (gatewayOnly.length > 0)
      throw new Error(
        `an A/A run has no gateway for ${gatewayOnly.map((scenario) => scenario.name).join(', ')}`
      )
  }
  const pinning = checkPinning()
  const withTenant = options.scenarios.some((scenario) => scenario.tenant !== undefined)
  const cacheBackends = [
    ...new Set(options.scenarios.flatMap((scenario) => scenario.cache?.backend ?? [])),
  ]
  const stores: BenchStores = await prepareBenchStores({
    redis: withTenant,
    cacheRedis: cacheBackends.includes('redis'),
    database: options.database ?? 'sqlite',
    redisTimeoutMs: options.redisTimeoutMs,
  })
  let processes: BenchProcesses | undefined
  let loadGenerator: LoadGenerator | undefined
  const cacheGateways = new Map<CacheBackend, CacheGateway>()
  try {
    processes = await startBenchProcesses({
      gatewayLogPath: options.gatewayLogPath,
      gatewayBin: options.gatewayBin,
      gatewayNodeOptions: options.gatewayNodeOptions,
      referenceNodeOptions: options.referenceNodeOptions,
      gatewayEnv: stores.env,
      gatewayConfig: stores.config,
      gatewayIsReference: options.gatewayIsReference,
    })
    loadGenerator = await startLoadGenerator({ cwd: repositoryRoot })
    const masterTargets = targetsFor(processes, benchSettings.masterKey)
    for (const name of targetNames) {
      const target = masterTargets[name]
      if (target === undefined) throw new Error(`no ${name} target`)
      await preflight({
        name,
        url: target.url,
        key: target.key,
        requiresKey: name === 'gateway' && options.gatewayIsReference !== true,
      })
    }
    if (options.scenarios.some((scenario) => scenario.converted === true))
      await preflightConversion({ url: processes.gateway.url, key: benchSettings.masterKey })
    // Beside the main gateway from the start (idle until their scenarios), so that a run fails early without them.
    for (const backend of cacheBackends) {
      const cacheStores = stores.cacheGatewayStores(backend)
      cacheGateways.set(
        backend,
        await startCacheGateway({
          mockBaseUrl: processes.mock.baseUrl,
          logPath: cacheLogPath(options.gatewayLogPath, backend),
          bin: options.gatewayBin,
          nodeOptions: options.gatewayNodeOptions,
          env: cacheStores.env,
          config: cacheGatewayConfig({ backend, ...cacheStores }),
        })
      )
    }
    let tenant: BenchTenant | null = null
    let tenantUpstreamRequests = 0
    if (withTenant) {
      tenant = await createBenchTenant({
        url: processes.gateway.url,
        masterKey: benchSettings.masterKey,
      })
      const servedBefore = await processes.countMockRequests()
      await preflight({
        name: 'gateway (tenant key)',
        url: processes.gateway.url,
        key: tenant.key,
        requiresKey: false,
        rateLimitRequests: benchTenantLimits.rpm,
      })
      tenantUpstreamRequests += (await settledMockCount(processes)) - servedBefore
    }

    const runs: ScenarioRun[] = []
    const failures: string[] = []
    for (const scenario of options.scenarios) {
      const cacheGateway =
        scenario.cache === undefined ? undefined : cacheGateways.get(scenario.cache.backend)
      const targets =
        cacheGateway === undefined
          ? targetsFor(
              processes,
              scenario.tenant === undefined || tenant === null
                ? benchSettings.masterKey
                : tenant.key
            )
          : cacheTargetsFor(processes, cacheGateway)
      if (cacheGateway !== undefined) {
        const counted = processes
        await primeCache({
          name: scenario.name,
          url: cacheGateway.url,
          key: benchSettings.masterKey,
          hitBody: cacheRequestBody(scenario, { ...cacheGateway, key: '', cache: 'hit' }),
          missBody: cacheRequestBody(scenario, { ...cacheGateway, key: '', cache: 'miss' }).replace(
            uniqueRequestMarker,
            `prime-${scenario.name}-${Date.now()}`
          ),
          countMockRequests: () => counted.countMockRequests(),
        })
      }
      const results = await runScenario({
        processes,
        loadGenerator,
        options,
        scenario,
        targets,
        redisPid: stores.redisPid,
      })
      for (const name of allTargetNames) {
        const run = results[name]
        if (run !== undefined)
          failures.push(
            ...failuresOf({
              scenario: scenario.name,
              target: name,
              run,
              tenant: scenario.tenant !== undefined,
              hits: targets[name]?.cache === 'hit',
            })
          )
      }
      if (scenario.tenant !== undefined)
        tenantUpstreamRequests +=
          (results.gateway?.upstreamRequests ?? 0) + (results.gateway?.warmupUpstreamRequests ?? 0)
      runs.push({ scenario, targets: results })
      const dead = [processes.reference, processes.gateway, ...cacheGateways.values()].find(
        ({ child }) => child.exitCode !== null || child.signalCode !== null
      )
      if (dead !== undefined) {
        const name =
          dead === processes.gateway
            ? 'gateway'
            : dead === processes.reference
              ? 'reference'
              : 'cache gateway'
        const how = dead.child.signalCode ?? `code ${dead.child.exitCode}`
        const logPath =
          dead === processes.reference
            ? undefined
            : (dead as BenchProcess & { logPath: string }).logPath
        const log = logPath === undefined ? '' : `; the end of its log:\n${tailOf(logPath)}`
        failures.push(`the ${name} process exited (${how}) during ${scenario.name}${log}`)
        break
      }
    }

    let tenantUsage: TenantUsageCheck | null = null
    const gatewayAlive =
      processes.gateway.child.exitCode === null && processes.gateway.child.signalCode === null
    if (tenant !== null && gatewayAlive) {
      options.onProgress?.('reading the tenant usage back from the usage store')
      const checked = await checkTenantUsage({ tenant, upstreamRequests: tenantUpstreamRequests })
      tenantUsage = checked.usage
      failures.push(...checked.failures)
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
        ...(options.gatewayIsReference === true ? { gatewayIsReference: true } : {}),
      },
      settings: {
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        rounds: roundsOf(options),
        roundLeadInSeconds: options.roundLeadInSeconds,
        model: benchSettings.model,
        streamChunks: benchSettings.streamChunks,
        upstreamChunksPerStream:
          streamEvents({
            answer: mockAnswer,
            streamChunks: benchSettings.streamChunks,
            includeUsage: true,
          }).length - 1,
      },
      runs,
      stores: {
        database: stores.database,
        redisKeyPrefix: stores.redisKeyPrefix,
        cacheRedisKeyPrefix: stores.cacheRedisKeyPrefix,
      },
      tenantUsage,
      peakRssKb: {
        gateway: readPeakRssKb(processes.gateway.pid),
        reference: readPeakRssKb(processes.reference.pid),
      },
      failures,
    }
  } finally {
    // The gateway stops (flushing its usage) before its stores go.
    await Promise.all([
      processes?.stop(),
      loadGenerator?.stop(),
      ...[...cacheGateways.values()].map((gateway) => gateway.stop()),
    ])
    await stores.cleanup()
  }
}
