/**
 * `npm run bench` (after `npm run build`): the full benchmark of docs/benchmark.md. Prints the
 * table and the PASS/FAIL of each target, writes `bench/results/bench-<time>.json` (and the gateway's log to
 * `bench/results/gateway.log`), and exits 1 when a request failed or a target was missed.
 * `BENCH_DURATION_S` and `BENCH_WARMUP_S` (default 10 each) set the measured and warm-up seconds per target and
 * scenario; `BENCH_ROUNDS` (default 5) how many interleaved rounds the measured seconds are split into, and
 * `BENCH_LEAD_IN_S` (default 1) the unmeasured start of every round; `BENCH_SCENARIOS` (`max-throughput,
 * max-throughput-tenant,fixed-rate,fixed-rate-tenant,streaming,streaming-no-usage,paced-streams,
 * paced-streams-no-usage,streaming-converted,cache-hit-memory,cache-hit-redis,cache-hit-vs-miss,local-model`) picks and
 * orders the scenarios (the `-tenant` ones and `cache-hit-redis` need Redis; `local-model`, the local model's figures
 * from `local-model-bench.ts`, always runs last, with `BENCH_LOCAL_STREAMS` single streams (default 10) and
 * `BENCH_LOCAL_ROUNDS` rounds of eight (default 5) per phase, over `models/` as `npm run model:build` wrote it); `BENCH_DATABASE`
 * (`sqlite`, default, or `postgres`) the gateway's SQL store; `BENCH_REDIS_TIMEOUT_MS` the gateway's longest wait
 * for Redis (default its own, 50 ms); `BENCH_CPU_PROFILE=1` also writes the gateway's V8 CPU profile to
 * `bench/results/` (open it in Chrome DevTools, Performance tab).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { formatReport, judgeBenchmark } from './format-report.ts'
import {
  formatLocalModelReport,
  localModelPasses,
  runLocalModelBench,
  type LocalModelFigures,
} from './local-model-bench.ts'
import { tinyModelName } from '../scripts/tiny-model/write-tiny-model.ts'
import { fullScenarios, runBenchmark } from './run-benchmark.ts'
import type { Scenario } from './run-benchmark.ts'
import type { BenchDatabase } from './prepare-bench-stores.ts'
import { checkPinning, killAllChildren } from './spawn-pinned.ts'
import { nodeFlagsFromEnv } from './start-bench-processes.ts'

const numberFromEnv = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (
    !Number.isFinite(value) ||
    value < 0 ||
    ((name === 'BENCH_DURATION_S' || name === 'BENCH_ROUNDS') && value === 0)
  ) {
    throw new Error(`${name} must be a positive number (got "${raw}")`)
  }
  return value
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllChildren()
    process.exit(130)
  })
}

const resultsDirectory = fileURLToPath(new URL('./results/', import.meta.url))
mkdirSync(resultsDirectory, { recursive: true })

const pinning = checkPinning()
if (!pinning.available) {
  console.warn(
    `WARNING: running without CPU pinning (${pinning.reason}); the gateway shares cores with the load generator.`
  )
}

const localModelScenario = 'local-model'
const requestedNames = (process.env.BENCH_SCENARIOS ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '')
const runLocalModel = requestedNames.length === 0 || requestedNames.includes(localModelScenario)

/**
 * `BENCH_PACED_STREAMS`: the streams the paced scenarios hold open at once, instead of their 500, for a run that asks
 * how the delay grows with the load (its targets are then judged at that load: a study, not the benchmark).
 */
const pacedStreams = numberFromEnv('BENCH_PACED_STREAMS', 0)

const withPacedStreams = (scenarios: readonly Scenario[]): readonly Scenario[] =>
  pacedStreams === 0
    ? scenarios
    : scenarios.map((scenario) =>
        scenario.paced === undefined ? scenario : { ...scenario, connections: pacedStreams }
      )

const scenariosFromEnv = (): readonly Scenario[] => withPacedStreams(requestedScenarios())

const requestedScenarios = (): readonly Scenario[] => {
  if (requestedNames.length === 0) return fullScenarios
  return requestedNames.flatMap((name) => {
    if (name === localModelScenario) return []
    const scenario = fullScenarios.find((candidate) => candidate.name === name.trim())
    if (scenario === undefined) {
      throw new Error(
        `BENCH_SCENARIOS: unknown scenario "${name}" (known: ${[...fullScenarios.map((known) => known.name), localModelScenario].join(', ')})`
      )
    }
    return [scenario]
  })
}

/** Node flags for the gateways the run starts (`BENCH_CPU_PROFILE`, `BENCH_GATEWAY_NODE_FLAGS`). */
const gatewayNodeOptions = (): string[] => [
  ...(process.env.BENCH_CPU_PROFILE === '1'
    ? ['--cpu-prof', `--cpu-prof-dir=${resultsDirectory}`]
    : []),
  // Any other flags for the gateway's Node (`--trace-gc`: its lines go to gateway.log).
  ...nodeFlagsFromEnv('BENCH_GATEWAY_NODE_FLAGS'),
]

const databaseFromEnv = (): BenchDatabase => {
  const raw = process.env.BENCH_DATABASE
  if (raw === undefined || raw === '' || raw === 'sqlite') return 'sqlite'
  if (raw === 'postgres') return 'postgres'
  throw new Error(`BENCH_DATABASE must be sqlite or postgres (got "${raw}")`)
}

const scenarios = scenariosFromEnv()
const result =
  scenarios.length === 0
    ? null
    : await runBenchmark({
        scenarios,
        durationSeconds: numberFromEnv('BENCH_DURATION_S', 10),
        warmupSeconds: numberFromEnv('BENCH_WARMUP_S', 10),
        rounds: Math.floor(numberFromEnv('BENCH_ROUNDS', 5)),
        roundLeadInSeconds: numberFromEnv('BENCH_LEAD_IN_S', 1),
        verifyBodies: false,
        database: databaseFromEnv(),
        redisTimeoutMs:
          process.env.BENCH_REDIS_TIMEOUT_MS === undefined ||
          process.env.BENCH_REDIS_TIMEOUT_MS === ''
            ? undefined
            : numberFromEnv('BENCH_REDIS_TIMEOUT_MS', 50),
        gatewayLogPath: `${resultsDirectory}gateway.log`,
        gatewayNodeOptions: gatewayNodeOptions(),
        // Flags for the reference proxy's Node, to study it the same way (`BENCH_REFERENCE_NODE_FLAGS`).
        referenceNodeOptions: nodeFlagsFromEnv('BENCH_REFERENCE_NODE_FLAGS'),
        gatewayIsReference: process.env.BENCH_A_A === '1',
        // Another build's CLI (`../before/bin/gatehouse.js`, a worktree built with `tsc -p tsconfig.build.json`), to
        // compare two builds under one harness, run after run.
        gatewayBin:
          process.env.BENCH_GATEWAY_BIN === undefined || process.env.BENCH_GATEWAY_BIN === ''
            ? undefined
            : process.env.BENCH_GATEWAY_BIN,
        onProgress: (message) => console.log(`... ${message}`),
      })
const localModel: LocalModelFigures | null = runLocalModel
  ? await runLocalModelBench({
      bin: fileURLToPath(new URL('../bin/gatehouse.js', import.meta.url)),
      modelsDirectory: fileURLToPath(new URL('../models', import.meta.url)),
      model: tinyModelName,
      version: '1',
      maxTokens: 400,
      singleStreams: Math.max(1, Math.floor(numberFromEnv('BENCH_LOCAL_STREAMS', 10))),
      rounds: Math.max(1, Math.floor(numberFromEnv('BENCH_LOCAL_ROUNDS', 5))),
      minSeconds: 3,
      logPath: `${resultsDirectory}gateway-local-model.log`,
      nodeOptions: gatewayNodeOptions(),
      onProgress: (message) => console.log(`... ${message}`),
    })
  : null
const verdict = result === null ? null : judgeBenchmark(result)
if (result !== null && verdict !== null) console.log(`\n${formatReport(result, verdict)}`)
if (localModel !== null) console.log(`\n${formatLocalModelReport(localModel)}`)
const startedAt = result?.startedAt ?? new Date().toISOString()
const file = `${resultsDirectory}bench-${startedAt.replaceAll(':', '-')}.json`
writeFileSync(file, `${JSON.stringify({ ...result, verdict, localModel }, null, 2)}\n`)
console.log(`\nResults written to ${file}`)
process.exitCode =
  (verdict === null || verdict.pass) && (localModel === null || localModelPasses(localModel))
    ? 0
    : 1
