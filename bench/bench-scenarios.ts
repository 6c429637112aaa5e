/**
 * The scenarios of `npm run bench` (docs/benchmark.md) and the load job each gives the load generator for one target.
 */
import {
  benchSettings,
  chatRequestBody,
  messagesRequestBody,
  responsesRequestBody,
} from './bench-settings.ts'
import type { WorkerJob } from './load-worker.ts'

export type ScenarioName =
  | 'max-throughput'
  | 'fixed-rate'
  | 'streaming'
  | 'streaming-no-usage'
  | 'streaming-converted'
  | 'paced-streams'
  | 'paced-streams-no-usage'
  | 'max-throughput-tenant'
  | 'fixed-rate-tenant'
  | 'cache-hit-memory'
  | 'cache-hit-redis'
  | 'cache-hit-vs-miss'

/**
 * Where a phase's load goes: the mock directly, the reference proxy, the gateway; in `streaming-converted`, the
 * gateway through its Responses API (`responses`) and through its Messages API (`messages`); in `cache-hit-vs-miss`,
 * a cache gateway's route with the cache on, asked the same request every time (`hit`) and a request it has never
 * seen every time (`miss`).
 */
export type TargetName =
  'direct' | 'reference' | 'gateway' | 'responses' | 'messages' | 'hit' | 'miss'
/** The targets of the proxy scenarios (all but `streaming-converted`), in the order of their first round. */
export const targetNames: readonly TargetName[] = ['direct', 'reference', 'gateway']
/** The targets of `streaming-converted`: the gateway, called through two APIs it converts to. */
export const conversionTargetNames: readonly TargetName[] = ['responses', 'messages']
/** The targets of `cache-hit-vs-miss`: one cache gateway, asked for hits and for misses in turn. */
export const hitMissTargetNames: readonly TargetName[] = ['hit', 'miss']
/** Every target, in the order of the report. */
export const allTargetNames: readonly TargetName[] = [
  ...targetNames,
  ...conversionTargetNames,
  ...hitMissTargetNames,
]

/** The API a target is called through: Chat Completions, unless it is one of the conversion targets. */
export type ClientApi = 'chat' | 'responses' | 'messages'

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
  /**
   * The gateway alone, called through the Responses API and through the Messages API in turn (the targets
   * `responses` and `messages`, interleaved round by round), on a route to the mock as an OpenAI-compatible server
   * without the Responses API: the gateway converts every upstream chunk to the client's API on both. The reference
   * cannot convert, and the mock speaks neither API: neither is driven. Every stream is checked whole.
   */
  converted?: true
  /**
   * The prompt cache, on a gateway of the scenario's own with the cache on for the route `benchSettings.cachedModel`
   * and the `backend` store (`start-bench-processes.ts`), primed before the scenario. `versus: 'direct'`: the targets
   * are the direct call to the mock and that gateway (`gateway`), asked the same request every time, each answer of
   * which must be a hit. `versus: 'miss'`: the targets are that gateway asked the same request (`hit`) and a request
   * it has never seen (`miss`) every time, each answer of which must say so, from a mock that takes
   * `upstreamLatencyMs` to answer. Every body must be the mock's answer.
   */
  cache?: { backend: 'memory' | 'redis'; versus: 'direct' | 'miss'; upstreamLatencyMs?: number }
}

/** The targets a scenario drives, in the order of its first round. */
export const targetsOf = (scenario: Scenario): readonly TargetName[] => {
  if (scenario.converted === true) return conversionTargetNames
  if (scenario.cache !== undefined)
    return scenario.cache.versus === 'miss' ? hitMissTargetNames : ['direct', 'gateway']
  return scenario.tenant === undefined ? targetNames : ['reference', 'gateway']
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
 *
 * The `-tenant` scenarios are their master-key namesakes with a tenant key (`tenant`), run right after them so
 * that the gateway is in the same state (warm, the same store) for both.
 *
 * `streaming-converted` streams the mock's 20-chunk streams (with usage) through the gateway's conversion at full
 * rate, to a Responses API client and to a Messages API client on the same connections as `streaming`: its figure
 * is the gateway's CPU time per upstream chunk on each, and the one over the other.
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
  // Last of the main gateway's: its full-rate conversion grows the gateway's heap past what 500 paced streams need, and
  // a heap once grown stays, so run before them it would set their peak RSS.
  { name: 'streaming-converted', connections: 32, stream: true, converted: true },
  // The prompt cache, each backend on a gateway of its own (the backend is global config), after the rest: the main
  // gateway's scenarios, its RSS among them, run as if the cache did not exist.
  {
    name: 'cache-hit-memory',
    connections: 8,
    overallRate: 200,
    stream: false,
    cache: { backend: 'memory', versus: 'direct' },
  },
  {
    name: 'cache-hit-redis',
    connections: 8,
    overallRate: 200,
    stream: false,
    cache: { backend: 'redis', versus: 'direct' },
  },
  // 100 req/s: misses of 50 ms keep about 5 of the 16 connections busy, so none waits for a socket.
  {
    name: 'cache-hit-vs-miss',
    connections: 16,
    overallRate: 100,
    stream: false,
    cache: { backend: 'memory', versus: 'miss', upstreamLatencyMs: 50 },
  },
]

/**
 * A target's origin, its process (`null`: the mock, not measured), the key clients send, and the API they call; a
 * cache gateway's targets also what every answer's `x-gatehouse-cache` must say.
 */
export type BenchTarget = {
  url: string
  pid: number | null
  key: string
  api?: ClientApi
  cache?: 'hit' | 'miss'
}

/** Replaced in each miss of `cache-hit-vs-miss` by an id of its own (`LoadJob.uniqueMarker`). */
export const uniqueRequestMarker = '#bench-unique#'

/**
 * The body of a cache scenario's request to `target`: the benchmark's plain request, on the cached route through a
 * cache gateway (and on the plain model to the mock directly), with the scenario's upstream latency asked, and for a
 * miss a user text no request has had.
 */
export const cacheRequestBody = (scenario: Scenario, target: BenchTarget): string =>
  chatRequestBody({
    stream: false,
    model: target.cache === undefined ? benchSettings.model : benchSettings.cachedModel,
    upstreamLatencyMs: scenario.cache?.upstreamLatencyMs,
    userSuffix: target.cache === 'miss' ? ` (${uniqueRequestMarker})` : undefined,
  })

/** The path, headers, body and body check of a request through `api` (the OpenAI SDK's, or the Anthropic SDK's). */
export const requestFor = (options: {
  api: ClientApi
  key: string
  stream: boolean
  includeUsage: boolean
  paced?: Scenario['paced']
  verifyBodies: boolean
}): Pick<WorkerJob, 'url' | 'headers' | 'body' | 'verify'> => {
  const json = { 'content-type': 'application/json' }
  if (options.api === 'responses') {
    return {
      url: '/v1/responses',
      headers: { authorization: `Bearer ${options.key}`, ...json },
      body: responsesRequestBody(),
      verify: 'responses-sse',
    }
  }
  if (options.api === 'messages') {
    return {
      url: '/v1/messages',
      headers: { 'x-api-key': options.key, 'anthropic-version': '2023-06-01', ...json },
      body: messagesRequestBody(),
      verify: 'messages-sse',
    }
  }
  return {
    url: '/v1/chat/completions',
    headers: { authorization: `Bearer ${options.key}`, ...json },
    body: chatRequestBody(options),
    verify: options.verifyBodies ? (options.stream ? 'sse' : 'json') : undefined,
  }
}

/** The job of one phase (a warm-up or a round) of `scenario` against `target`. */
export const jobFor = (options: {
  scenario: Scenario
  target: BenchTarget
  verifyBodies: boolean
  seconds: { measured: number; leadIn: number }
}): WorkerJob => {
  const { scenario, target, seconds } = options
  const includeUsage = scenario.includeUsage ?? true
  // The conversion targets' streams are always checked whole (the proof that both conversions are complete).
  const request = requestFor({
    api: target.api ?? 'chat',
    key: target.key,
    stream: scenario.stream,
    includeUsage,
    paced: scenario.paced,
    verifyBodies: options.verifyBodies,
  })
  const job: WorkerJob = {
    ...request,
    url: `${target.url}${request.url}`,
    connections: scenario.connections,
    overallRate: scenario.overallRate,
    durationSeconds: seconds.measured,
    warmupSeconds: seconds.leadIn,
  }
  if (scenario.cache !== undefined) {
    // Only the paced generator reads `x-gatehouse-cache`.
    if (scenario.overallRate === undefined)
      throw new Error(`${scenario.name}: a cache scenario runs at a fixed rate (overallRate)`)
    // Every answer is checked, whatever `verifyBodies` says, on every target: the figures are those of hits (or of
    // misses) only if each one was, and of the mock's answer.
    job.body = cacheRequestBody(scenario, target)
    job.verify = 'exact-json'
    if (target.cache !== undefined) job.expectCache = target.cache
    if (target.cache === 'miss') job.uniqueMarker = uniqueRequestMarker
  }
  if (scenario.paced !== undefined) {
    // Every paced stream is checked whole, whatever `verifyBodies` says: the stamps are read anyway.
    job.verify = undefined
    job.pacedStreams = { ...scenario.paced, includeUsage, cpuPid: target.pid }
  }
  return job
}
