/**
 * The scenarios of `npm run bench` (docs/benchmark.md) and the load job each gives the load generator for one target.
 */
import { chatRequestBody } from './bench-settings.ts'
import type { WorkerJob } from './load-worker.ts'

export type ScenarioName =
  | 'max-throughput'
  | 'fixed-rate'
  | 'streaming'
  | 'streaming-no-usage'
  | 'paced-streams'
  | 'paced-streams-no-usage'
  | 'max-throughput-tenant'
  | 'fixed-rate-tenant'

export type TargetName = 'direct' | 'reference' | 'gateway'
export const targetNames: readonly TargetName[] = ['direct', 'reference', 'gateway']

export type Scenario = {
  name: ScenarioName
  /** Connections; for paced streams, the streams held open at once. */
  connections: number
  /**
   * Requests per second, evenly spaced, over at most `connections` sockets (`paced-load.ts`); absent = as fast as the
   * target answers.
   */
  overallRate?: number
  stream: boolean
  /**
   * A streamed request asks `stream_options.include_usage` (default `true`). Without it, as the official SDKs send
   * streams by default, the gateway asks the upstream for usage anyway and strips it from what the client gets.
   */
  includeUsage?: boolean
  /** Streams paced by the mock, `connections` at once (`paced-streams.ts`): chunks per stream and ms between them. */
  paced?: { chunks: number; intervalMs: number }
  /**
   * The gateway is called with a tenant key whose RPM, TPM and budget (and its tenant's) are checked and settled on
   * every request, in Redis, with usage in the SQL store, instead of the master key, which skips all of it. The mock
   * is not called directly: `masterScenario`, the same load with the master key, measures that, and the report sets
   * the two side by side (what the accounting costs).
   */
  tenant?: { masterScenario: ScenarioName }
}

/** The targets a scenario drives, in the order of its first round. */
export const targetsOf = (scenario: Scenario): readonly TargetName[] =>
  scenario.tenant === undefined ? targetNames : ['reference', 'gateway']

/**
 * `fixed-rate` is paced (`paced-load.ts`): one request every 5 ms on up to 8 keep-alive connections, each timed from
 * when it was due, not autocannon's `overallRate`, whose rate limiter gives each connection its share (here 25
 * requests) at the start of every one-second window, sent back to back, so that 200 req/s arrives as 8 concurrent
 * bursts and measures latency under 8-way concurrency rather than at a moderate rate.
 * https://github.com/mcollina/autocannon/blob/master/lib/httpClient.js
 *
 * The paced streams are what LLM traffic looks like: 500 streams at once, each of 200 tokens one every 20 ms (50
 * tokens per second, a fast model's pace), 25,000 chunks per second in all.
 *
 * The `-tenant` scenarios are their master-key namesakes with a tenant key (`tenant`), run right after them so
 * that the gateway is in the same state (warm, the same store) for both.
 */
export const fullScenarios: readonly Scenario[] = [
  { name: 'max-throughput', connections: 64, stream: false },
  {
    name: 'max-throughput-tenant',
    connections: 64,
    stream: false,
    tenant: { masterScenario: 'max-throughput' },
  },
  { name: 'fixed-rate', connections: 8, overallRate: 200, stream: false },
  {
    name: 'fixed-rate-tenant',
    connections: 8,
    overallRate: 200,
    stream: false,
    tenant: { masterScenario: 'fixed-rate' },
  },
  { name: 'streaming', connections: 32, stream: true, includeUsage: true },
  { name: 'streaming-no-usage', connections: 32, stream: true, includeUsage: false },
  {
    name: 'paced-streams',
    connections: 500,
    stream: true,
    includeUsage: true,
    paced: { chunks: 200, intervalMs: 20 },
  },
  {
    name: 'paced-streams-no-usage',
    connections: 500,
    stream: true,
    includeUsage: false,
    paced: { chunks: 200, intervalMs: 20 },
  },
]

export type BenchTarget = { url: string; pid: number | null; key: string }

/** The job of one phase (a warm-up or a round) of `scenario` against `target`. */
export const jobFor = (options: {
  scenario: Scenario
  target: BenchTarget
  verifyBodies: boolean
  seconds: { measured: number; leadIn: number }
}): WorkerJob => {
  const { scenario, target, seconds } = options
  const includeUsage = scenario.includeUsage ?? true
  const job: WorkerJob = {
    url: `${target.url}/v1/chat/completions`,
    headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
    body: chatRequestBody({ stream: scenario.stream, includeUsage, paced: scenario.paced }),
    connections: scenario.connections,
    overallRate: scenario.overallRate,
    durationSeconds: seconds.measured,
    warmupSeconds: seconds.leadIn,
    verify: options.verifyBodies ? (scenario.stream ? 'sse' : 'json') : undefined,
  }
  if (scenario.paced !== undefined) {
    // Every paced stream is checked whole, whatever `verifyBodies` says: the stamps are read anyway.
    job.verify = undefined
    job.pacedStreams = { ...scenario.paced, includeUsage, cpuPid: target.pid }
  }
  return job
}
