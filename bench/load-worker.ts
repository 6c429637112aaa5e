/**
 * The load generator, run as its own process (pinned to the core the gateway does not use) so that autocannon never
 * shares an event loop with the benchmark's bookkeeping. Takes `{ type: 'run', job }` messages on the IPC channel,
 * one at a time, and answers each with `{ type: 'result', result }` or `{ type: 'error', message }`; prints
 * `{"ready":true}` once loaded. https://github.com/mcollina/autocannon#api
 *
 * Latency percentiles are computed here from every response time rather than from autocannon's histogram: that one
 * stores whole milliseconds, and with `overallRate` it "corrects" coordinated omission with an expected interval of
 * `ceil(1 / rate)` = 1 ms, which fills it with synthetic samples. Sub-millisecond resolution matters for the
 * "added p99 < 3 ms" target.
 */
import autocannon from 'autocannon'
import type { AutocannonResult } from 'autocannon'
import { pathToFileURL } from 'node:url'

export type LoadJob = {
  url: string
  headers: Record<string, string>
  body: string
  connections: number
  durationSeconds: number
  warmupSeconds: number
  /** Fixed request rate across all connections; absent for max throughput. */
  overallRate?: number
  /** Check every response body: a chat completion JSON from the mock, or a full SSE stream ending in `[DONE]`. */
  verify?: 'json' | 'sse'
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
  /** Non-2xx responses, errors and mismatches during the warm-up: they fail the run too. */
  warmupFailures: number
  statusCodes: Record<string, number>
  measuredSeconds: number
  requestsPerSecond: number
  /** `null` when no request succeeded. */
  latencyMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null; mean: number | null }
}

/** Nearest-rank percentile of sorted samples. */
const percentile = (sorted: Float64Array, fraction: number): number | null => {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))
  return sorted[rank]
}

const verifiers: Record<NonNullable<LoadJob['verify']>, (body: string) => boolean> = {
  json: (body) => {
    try {
      const parsed = JSON.parse(body) as { object?: unknown; choices?: { message?: { content?: unknown } }[] }
      const content = parsed.choices?.[0]?.message?.content
      return parsed.object === 'chat.completion' && typeof content === 'string' && content.startsWith('echo: ')
    } catch {
      return false
    }
  },
  sse: (body) => body.includes('"finish_reason":"stop"') && body.endsWith('data: [DONE]\n\n'),
}

const runOnce = (job: LoadJob, durationSeconds: number, samples?: number[]): PromiseLike<AutocannonResult> => {
  const instance = autocannon({
    url: job.url,
    method: 'POST',
    headers: job.headers,
    body: job.body,
    connections: job.connections,
    duration: durationSeconds,
    overallRate: job.overallRate,
    verifyBody: job.verify === undefined ? undefined : verifiers[job.verify],
  })
  if (samples !== undefined) {
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) samples.push(responseTime)
    })
  }
  return instance
}

export const runLoadJob = async (job: LoadJob): Promise<LoadResult> => {
  const warmup = job.warmupSeconds > 0 ? await runOnce(job, job.warmupSeconds) : undefined
  const samples: number[] = []
  const result = await runOnce(job, job.durationSeconds, samples)
  const sorted = Float64Array.from(samples).sort()
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]))
  const ok = sorted.length
  let sum = 0
  for (const value of sorted) sum += value
  return {
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    mismatches: result.mismatches,
    warmupFailures: warmup === undefined ? 0 : warmup.non2xx + warmup.errors + warmup.mismatches,
    statusCodes,
    measuredSeconds: result.duration,
    requestsPerSecond: ok / result.duration,
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      max: ok === 0 ? null : sorted[ok - 1],
      mean: ok === 0 ? null : sum / ok,
    },
  }
}

export type LoadWorkerMessage = { type: 'result'; result: LoadResult } | { type: 'error'; message: string }

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.on('message', (message: { type?: string; job?: LoadJob }) => {
    if (message?.type !== 'run' || message.job === undefined) return
    runLoadJob(message.job).then(
      (result) => process.send?.({ type: 'result', result } satisfies LoadWorkerMessage),
      (error: unknown) => process.send?.({ type: 'error', message: String(error) } satisfies LoadWorkerMessage),
    )
  })
  process.on('disconnect', () => process.exit(0))
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
}
