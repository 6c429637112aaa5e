/**
 * The load generator, run as its own process (pinned to the core the gateway does not use) so that it never shares an
 * event loop with the benchmark's bookkeeping. Takes `{ type: 'run', job }` messages on the IPC channel, one at a
 * time, and answers each with `{ type: 'result', result }` or `{ type: 'error', message }`; prints `{"ready":true}`
 * once loaded.
 *
 * A job with `pacedStreams` (the paced-streams scenario) holds that many paced streams open (`paced-streams.ts`).
 *
 * A job with `overallRate` (the fixed-rate scenario) runs on the paced open-loop generator of `paced-load.ts`:
 * autocannon's rate limiter sends each connection's share of a second in one burst, which is not a moderate rate.
 * The others (max throughput, streaming) run on autocannon, each connection sending its next request as soon as the
 * last one is answered. https://github.com/mcollina/autocannon#api
 *
 * Latency percentiles are computed from every response time (`load-common.ts`) rather than from autocannon's
 * histogram, which stores whole milliseconds: sub-millisecond resolution matters for the "added p99 < 3 ms" target.
 */
import autocannon from 'autocannon'
import type { AutocannonResult } from 'autocannon'
import { pathToFileURL } from 'node:url'
import type { LoadJob, LoadRun } from './load-common.ts'
import { bodyProblems, summariseLatency } from './load-common.ts'
import { runPacedLoad } from './paced-load.ts'
import { runPacedStreams } from './paced-streams.ts'
import type { PacedStreamsSpec } from './paced-streams.ts'

export type { LoadJob, LoadResult, LoadRun } from './load-common.ts'

/** Checks each body against `job.verify`, keeping what was wrong with the first that failed. */
const bodyCheck = (job: LoadJob) => {
  const check = job.verify === undefined ? undefined : bodyProblems[job.verify]
  const found: { first?: string } = {}
  const verifyBody =
    check === undefined
      ? undefined
      : (body: string): boolean => {
          const problem = check(body)
          if (problem !== null) found.first ??= problem
          return problem === null
        }
  return { verifyBody, found }
}

const runOnce = (
  job: LoadJob,
  durationSeconds: number,
  verifyBody: ((body: string) => boolean) | undefined,
  samples?: number[]
): PromiseLike<AutocannonResult> => {
  const instance = autocannon({
    url: job.url,
    method: 'POST',
    headers: job.headers,
    body: job.body,
    connections: job.connections,
    duration: durationSeconds,
    verifyBody,
  })
  if (samples !== undefined) {
    instance.on(
      'response',
      (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
        if (statusCode >= 200 && statusCode < 300) samples.push(responseTime)
      }
    )
  }
  return instance
}

const runAutocannon = async (job: LoadJob): Promise<LoadRun> => {
  // One check for the lead-in and the measured part: the first problem of either is kept.
  const check = bodyCheck(job)
  const warmup =
    job.warmupSeconds > 0 ? await runOnce(job, job.warmupSeconds, check.verifyBody) : undefined
  const samples: number[] = []
  const result = await runOnce(job, job.durationSeconds, check.verifyBody, samples)
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])
  )
  const ok = samples.length
  return {
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    mismatches: result.mismatches,
    ...(check.found.first === undefined ? {} : { firstMismatch: check.found.first }),
    warmupFailures: warmup === undefined ? 0 : warmup.non2xx + warmup.errors + warmup.mismatches,
    statusCodes,
    measuredSeconds: result.duration,
    requestsPerSecond: ok / result.duration,
    latencyMs: summariseLatency(samples),
    latencySamplesMs: samples,
  }
}

/** A job with `pacedStreams` holds that many paced streams open (`paced-streams.ts`). */
export type WorkerJob = LoadJob & { pacedStreams?: PacedStreamsSpec }

export const runLoadJob = (job: WorkerJob): Promise<LoadRun> => {
  if (job.pacedStreams !== undefined)
    return runPacedStreams({ ...job, pacedStreams: job.pacedStreams })
  return job.overallRate === undefined
    ? runAutocannon(job)
    : runPacedLoad({ ...job, overallRate: job.overallRate })
}

export type LoadWorkerMessage =
  { type: 'result'; result: LoadRun } | { type: 'error'; message: string }

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.on('message', (message: { type?: string; job?: WorkerJob }) => {
    if (message?.type !== 'run' || message.job === undefined) return
    runLoadJob(message.job).then(
      (result) => process.send?.({ type: 'result', result } satisfies LoadWorkerMessage),
      (error: unknown) =>
        process.send?.({ type: 'error', message: String(error) } satisfies LoadWorkerMessage)
    )
  })
  process.on('disconnect', () => process.exit(0))
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
}
