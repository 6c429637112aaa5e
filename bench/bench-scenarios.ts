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
}

/**
 * `fixed-rate` is paced (`paced-load.ts`): one request every 5 ms on up to 8 keep-alive connections, each timed from
 * when it was due, not autocannon's `overallRate`, whose rate limiter gives each connection its share (here 25
 * requests) at the start of every one-second window, sent back to back, so that 200 req/s arrives as 8 concurrent
 * bursts and measures latency under 8-way concurrency rather than at a moderate rate.
 * https://github.com/mcollina/autocannon/blob/master/lib/httpClient.js
 *
 * The paced streams are what LLM traffic looks like: 500 streams at once, each of 200 tokens one every 20 ms (50
 * tokens per second, a fast model's pace), 25,000 chunks per second in all.
 */
export const fullScenarios: readonly Scenario[] = [
  { name: 'max-throughput', connections: 64, stream: false },
  { name: 'fixed-rate', connections: 8, overallRate: 200, stream: false },
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
