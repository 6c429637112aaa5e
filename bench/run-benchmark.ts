/**
 * One benchmark run, parametrised so that `npm run bench` (full length) and the smoke test in `npm test` (a few
 * seconds, fewer connections) share every line: start the processes, check each target answers like the mock,
 * drive each scenario against the mock directly, the reference proxy and the gateway, collect latency, errors and
 * memory, stop everything.
 */
import { availableParallelism } from 'node:os'
import { benchSettings, chatRequestBody } from './bench-settings.ts'
import { startLoadGenerator } from './drive-load.ts'
import type { LoadResult } from './load-worker.ts'
import { preflight } from './preflight.ts'
import { checkPinning } from './spawn-pinned.ts'
import { repositoryRoot, startBenchProcesses } from './start-bench-processes.ts'
import { readPeakRssKb, watchRss } from './watch-rss.ts'

export type ScenarioName = 'max-throughput' | 'fixed-rate' | 'streaming'
export type TargetName = 'direct' | 'reference' | 'gateway'
export const targetNames: readonly TargetName[] = ['direct', 'reference', 'gateway']

export type Scenario = {
  name: ScenarioName
  connections: number
  /** Requests per second across all connections; absent = as fast as the target answers. */
  overallRate?: number
  stream: boolean
}

/** The scenarios of ARCHITECTURE.md's "Benchmark" section. */
export const fullScenarios: readonly Scenario[] = [
  { name: 'max-throughput', connections: 64, stream: false },
  { name: 'fixed-rate', connections: 8, overallRate: 200, stream: false },
  { name: 'streaming', connections: 32, stream: true },
]

export type BenchmarkOptions = {
  scenarios: readonly Scenario[]
  durationSeconds: number
  warmupSeconds: number
  /** Check every response body in the load generator (costs load-generator CPU: for short runs). */
  verifyBodies: boolean
  gatewayLogPath: string
  /** The gateway's CLI; default the repository's `bin/gatehouse.js` (over `dist/`, built by `npm run bench`). */
  gatewayBin?: string
  onProgress?: (message: string) => void
}

export type TargetRun = LoadResult & {
  /** Highest resident memory of the target's process during the measured window (KiB); `null` for the mock. */
  peakRssKb: number | null
  /** Requests the mock answered while this target was under load (warm-up included). */
  upstreamRequests: number
}

export type ScenarioRun = { scenario: Scenario; targets: Record<TargetName, TargetRun> }

export type BenchmarkResult = {
  startedAt: string
  environment: { node: string; cpus: number; pinned: boolean; pinningNote: string }
  settings: { durationSeconds: number; warmupSeconds: number; model: string; streamChunks: number }
  runs: ScenarioRun[]
  /** Kernel peak (`VmHWM`) over the whole run, KiB. */
  peakRssKb: { gateway: number | null; reference: number | null }
  /** Every non-2xx, error, timeout and body mismatch, and every target that answered without the mock. Must be empty. */
  failures: string[]
}

const failuresOf = (options: { scenario: ScenarioName; target: TargetName; run: TargetRun }): string[] => {
  const { scenario, target, run } = options
  const label = `${scenario} / ${target}`
  const failures: string[] = []
  if (run.non2xx > 0) failures.push(`${label}: ${run.non2xx} non-2xx responses (${JSON.stringify(run.statusCodes)})`)
  if (run.errors > 0) failures.push(`${label}: ${run.errors} errors (${run.timeouts} timeouts)`)
  if (run.mismatches > 0) failures.push(`${label}: ${run.mismatches} responses were not the mock's answer`)
  if (run.warmupFailures > 0) failures.push(`${label}: ${run.warmupFailures} failed requests during warm-up`)
  if (run.ok === 0) failures.push(`${label}: no successful response at all`)
  if (run.upstreamRequests < run.ok) {
    failures.push(`${label}: ${run.ok} answers but only ${run.upstreamRequests} requests reached the mock`)
  }
  return failures
}

export const runBenchmark = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const startedAt = new Date().toISOString()
  const progress = options.onProgress ?? (() => {})
  const pinning = checkPinning()
  const processes = await startBenchProcesses({
    gatewayLogPath: options.gatewayLogPath,
    gatewayBin: options.gatewayBin,
  })
  let loadGenerator: Awaited<ReturnType<typeof startLoadGenerator>> | undefined
  try {
    loadGenerator = await startLoadGenerator({ cwd: repositoryRoot })
    const targets: Record<TargetName, { url: string; pid: number | null; key: string }> = {
      direct: { url: processes.mock.url, pid: null, key: benchSettings.upstreamApiKey },
      reference: { url: processes.reference.url, pid: processes.reference.pid, key: benchSettings.masterKey },
      gateway: { url: processes.gateway.url, pid: processes.gateway.pid, key: benchSettings.masterKey },
    }
    for (const name of targetNames) {
      await preflight({ name, url: targets[name].url, key: targets[name].key, requiresKey: name === 'gateway' })
    }

    const runs: ScenarioRun[] = []
    const failures: string[] = []
    for (const scenario of options.scenarios) {
      const results = {} as Record<TargetName, TargetRun>
      for (const name of targetNames) {
        progress(`${scenario.name}: ${name} (${options.warmupSeconds} s warm-up + ${options.durationSeconds} s)`)
        const target = targets[name]
        const before = await processes.countMockRequests()
        const rss = target.pid === null ? undefined : watchRss(target.pid)
        const load = await loadGenerator.run({
          url: `${target.url}/v1/chat/completions`,
          headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
          body: chatRequestBody({ stream: scenario.stream }),
          connections: scenario.connections,
          overallRate: scenario.overallRate,
          durationSeconds: options.durationSeconds,
          warmupSeconds: options.warmupSeconds,
          verify: options.verifyBodies ? (scenario.stream ? 'sse' : 'json') : undefined,
        })
        const peakRssKb = rss === undefined ? null : rss.stop()
        const upstreamRequests = (await processes.countMockRequests()) - before
        results[name] = { ...load, peakRssKb, upstreamRequests }
        failures.push(...failuresOf({ scenario: scenario.name, target: name, run: results[name] }))
      }
      runs.push({ scenario, targets: results })
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
        model: benchSettings.model,
        streamChunks: benchSettings.streamChunks,
      },
      runs,
      peakRssKb: { gateway: readPeakRssKb(processes.gateway.pid), reference: readPeakRssKb(processes.reference.pid) },
      failures,
    }
  } finally {
    await Promise.all([processes.stop(), loadGenerator?.stop()])
  }
}
