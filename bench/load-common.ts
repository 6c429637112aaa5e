/**
 * What the load generator's two ways of driving a target share (autocannon in `load-worker.ts`, the paced open-loop
 * generator in `paced-load.ts`): the job and result shapes the benchmark exchanges over IPC, the response body checks,
 * and the latency summary, computed from every sample so that both report the same figures the same way.
 */
import { mockAnswer } from './bench-settings.ts'
import {
  messagesStreamProblem,
  mockStreamExpectation,
  responsesStreamProblem,
} from './check-converted-stream.ts'

export type LoadJob = {
  url: string
  headers: Record<string, string>
  body: string
  connections: number
  durationSeconds: number
  warmupSeconds: number
  /** Fixed request rate across all connections (paced, see `paced-load.ts`); absent for max throughput. */
  overallRate?: number
  /** Check every response body (`bodyProblems`). */
  verify?: VerifyKind
  /**
   * Paced jobs only: every 2xx response must say `x-gatehouse-cache: <this>` (the prompt cache's scenarios); one that
   * says anything else is a mismatch.
   */
  expectCache?: 'hit' | 'miss'
  /**
   * Paced jobs only: this text in `body` is replaced, in each request, with an id no other request of any run has
   * used, so that each is a request the prompt cache has never seen.
   */
  uniqueMarker?: string
}

/**
 * What a response body must be: the mock's chat completion (`json`; `exact-json`: with exactly the mock's answer to
 * the benchmark's request), its whole SSE stream (`sse`), or the gateway's conversion of that stream to a Responses
 * API stream (`responses-sse`) or a Messages API stream (`messages-sse`).
 */
export type VerifyKind = 'json' | 'exact-json' | 'sse' | 'responses-sse' | 'messages-sse'

export type LatencySummary = {
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
  mean: number | null
}

export type LoadResult = {
  /** 2xx responses completed in the measured window. */
  ok: number
  non2xx: number
  /** Connection errors and timeouts (timeouts also counted separately). */
  errors: number
  timeouts: number
  /** Responses whose body failed `verify`. */
  mismatches: number
  /** What was wrong with the first of them (autocannon's runs). */
  firstMismatch?: string
  /** Non-2xx responses, errors and mismatches during the warm-up: they fail the run too. */
  warmupFailures: number
  statusCodes: Record<string, number>
  measuredSeconds: number
  requestsPerSecond: number
  /** `null` when no request succeeded. */
  latencyMs: LatencySummary
}

/** What a paced-streams run (`paced-streams.ts`) counts besides its delays, over its measured window. */
export type ChunkFigures = {
  /** Stamped events that arrived in the window. */
  chunks: number
  /** CPU seconds the target's process used over the window; `null` when not read (the direct call, no /proc). */
  cpuSeconds: number | null
  /** What was wrong with the first stream that did not come back whole. */
  firstProblem?: string
}

/**
 * One run of the load generator with every latency sample, so that the rounds of a target (`run-benchmark.ts`
 * interleaves the targets) can be merged into one result with `mergeLoadRuns`. A paced-streams run's latencies are
 * the delays of its events (stamp to arrival), its rate is events per second, and `ok` counts whole streams.
 */
export type LoadRun = LoadResult & { latencySamplesMs: number[]; chunkFigures?: ChunkFigures }

/** Nearest-rank percentile of sorted samples. */
export const percentile = (sorted: Float64Array, fraction: number): number | null => {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))
  return sorted[rank]
}

/** Percentiles, maximum and mean of every latency sample (milliseconds), not of a bucketed histogram. */
export const summariseLatency = (samples: readonly number[]): LatencySummary => {
  const sorted = Float64Array.from(samples).sort()
  const count = sorted.length
  let sum = 0
  for (const value of sorted) sum += value
  return {
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: count === 0 ? null : sorted[count - 1],
    mean: count === 0 ? null : sum / count,
  }
}

/**
 * One result from several runs against the same target: counts and measured time add up, the rate is the total over
 * the total time, and the latency percentiles come from every sample of every run.
 */
export const mergeLoadRuns = (runs: readonly LoadRun[]): LoadResult => {
  const statusCodes: Record<string, number> = {}
  const samples: number[] = []
  let measuredSeconds = 0
  const counts = { ok: 0, non2xx: 0, errors: 0, timeouts: 0, mismatches: 0, warmupFailures: 0 }
  for (const run of runs) {
    for (const key of Object.keys(counts) as (keyof typeof counts)[]) counts[key] += run[key]
    for (const [code, count] of Object.entries(run.statusCodes))
      statusCodes[code] = (statusCodes[code] ?? 0) + count
    for (const sample of run.latencySamplesMs) samples.push(sample)
    measuredSeconds += run.measuredSeconds
  }
  const firstMismatch = runs.find((run) => run.firstMismatch !== undefined)?.firstMismatch
  return {
    ...counts,
    ...(firstMismatch === undefined ? {} : { firstMismatch }),
    statusCodes,
    measuredSeconds,
    requestsPerSecond: measuredSeconds > 0 ? counts.ok / measuredSeconds : 0,
    latencyMs: summariseLatency(samples),
  }
}

/** CPU milliseconds per 1,000 chunks; `null` without a CPU reading or without chunks. */
export const cpuMsPerThousandChunks = (cpuSeconds: number | null, chunks: number): number | null =>
  cpuSeconds === null || chunks <= 0 ? null : (cpuSeconds / chunks) * 1_000_000

/**
 * The chunk figures of several paced-streams runs against one target: chunks and CPU time add up (so the CPU per
 * chunk weighs each round by its chunks), the CPU is `null` when any run's is; `undefined` when no run has any.
 */
export const mergeChunkFigures = (
  runs: readonly LoadRun[]
): (ChunkFigures & { cpuMsPerThousandChunks: number | null }) | undefined => {
  const figures = runs.flatMap((run) => (run.chunkFigures === undefined ? [] : [run.chunkFigures]))
  if (figures.length === 0) return undefined
  let chunks = 0
  let cpuSeconds: number | null = 0
  for (const figure of figures) {
    chunks += figure.chunks
    cpuSeconds =
      cpuSeconds === null || figure.cpuSeconds === null ? null : cpuSeconds + figure.cpuSeconds
  }
  const firstProblem = figures.find((figure) => figure.firstProblem !== undefined)?.firstProblem
  return {
    chunks,
    cpuSeconds,
    cpuMsPerThousandChunks: cpuMsPerThousandChunks(cpuSeconds, chunks),
    ...(firstProblem === undefined ? {} : { firstProblem }),
  }
}

const streamExpectation = mockStreamExpectation()

/**
 * Why a response body is not what the job's `verify` expects, or `null`: the mock's chat completion, its SSE stream
 * ending in `[DONE]`, or the gateway's conversion of that stream to the Responses or the Messages API
 * (`check-converted-stream.ts`).
 */
export const bodyProblems: Record<VerifyKind, (body: string) => string | null> = {
  json: (body) => {
    try {
      const parsed = JSON.parse(body) as {
        object?: unknown
        choices?: { message?: { content?: unknown } }[]
      }
      const content = parsed.choices?.[0]?.message?.content
      return parsed.object === 'chat.completion' &&
        typeof content === 'string' &&
        content.startsWith('echo: ')
        ? null
        : `not the mock's chat completion: ${body.slice(0, 200)}`
    } catch {
      return `not JSON: ${body.slice(0, 200)}`
    }
  },
  'exact-json': (body) => {
    try {
      const parsed = JSON.parse(body) as {
        object?: unknown
        choices?: { message?: { content?: unknown }; finish_reason?: unknown }[]
      }
      const [choice] = parsed.choices ?? []
      return parsed.object === 'chat.completion' &&
        choice?.message?.content === mockAnswer &&
        choice.finish_reason === 'stop'
        ? null
        : `not the mock's chat completion with its answer: ${body.slice(0, 200)}`
    } catch {
      return `not JSON: ${body.slice(0, 200)}`
    }
  },
  sse: (body) =>
    body.includes('"finish_reason":"stop"') && body.endsWith('data: [DONE]\n\n')
      ? null
      : `not the mock's whole stream: ${body.slice(-200)}`,
  'responses-sse': (body) => responsesStreamProblem(body, streamExpectation),
  'messages-sse': (body) => messagesStreamProblem(body, streamExpectation),
}

export const verifiers = Object.fromEntries(
  Object.entries(bodyProblems).map(([kind, problem]) => [
    kind,
    (body: string) => problem(body) === null,
  ])
) as Record<VerifyKind, (body: string) => boolean>
