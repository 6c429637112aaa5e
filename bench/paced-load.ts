/**
 * The fixed-rate scenario's load: an open-loop generator that sends requests at evenly spaced times, in the spirit of
 * wrk2 (https://github.com/giltene/wrk2). It exists because autocannon's `overallRate` does not pace: its rate limiter
 * gives each connection its share of the second's requests at the start of every one-second window, sent back to back
 * (https://github.com/mcollina/autocannon/blob/master/lib/httpClient.js), so 200 req/s over 8 connections arrives as
 * 8 concurrent bursts of 25 each second, and measures latency under 8-way bursts rather than at a moderate rate.
 *
 * Here request i is scheduled at t0 + i × (1000 / rate) ms and sent then on a free keep-alive connection of an undici
 * `Pool` (at most `connections` sockets, opened as needed, one request at a time on each); when every socket is busy
 * it waits in the pool's queue. Its latency runs from its scheduled time to the last byte of its response body, so a
 * stall counts against every request that should have been sent during it ("coordinated omission", corrected as wrk2
 * does) instead of quietly lowering the rate. What it measures: the latency a client sending `rate` evenly spaced
 * requests per second sees, queueing behind slow responses included.
 *
 * Timers fire on libuv's whole-millisecond clock, up to about a millisecond after they are due, so each wake-up sends
 * every request due within the next millisecond and then sleeps until the next one; a request sent before its
 * scheduled time is timed from its actual send. That keeps the generator's own timer lag (0.7 ms on average) out of
 * the latencies without spinning (the load generator shares core 1 with the mock), while a request sent late, behind
 * a busy event loop, still counts from its schedule.
 */
import { randomBytes } from 'node:crypto'
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'
import type { LoadJob, LoadRun } from './load-common.ts'
import { bodyProblems, summariseLatency } from './load-common.ts'

export type PacedLoadJob = LoadJob & {
  overallRate: number
  /** From its send, after which a request is aborted and counted as an error and a timeout; default 10 s. */
  requestTimeoutMs?: number
}

export const defaultRequestTimeoutMs = 10_000

/** How far ahead of its scheduled time a wake-up may send a request: the timer's resolution (see the header). */
const earlySendMs = 1

/** What one phase (warm-up or measurement) counted. */
type Tally = {
  /** Latency of every verified 2xx response, ms. */
  samples: number[]
  non2xx: number
  errors: number
  timeouts: number
  mismatches: number
  /** What was wrong with the first response that failed its check. */
  firstMismatch?: string
  statusCodes: Record<string, number>
}

type PhaseResult = Tally & { measuredSeconds: number }

type RequestContext = {
  pool: Pool
  path: string
  job: PacedLoadJob
  timeoutMs: number
  /** `job.body` per request: with `job.uniqueMarker` replaced by an id of the request's own. */
  bodyOf: () => string
}

const emptyTally = (): Tally => ({
  samples: [],
  non2xx: 0,
  errors: 0,
  timeouts: 0,
  mismatches: 0,
  statusCodes: {},
})

/**
 * Calls `send` with the scheduled time of each of `count` requests, `intervalMs` apart from `startAt` (all
 * `performance.now()` times), each on the first wake-up at most `earlySendMs` before it is due; resolves after the
 * last. A late wake-up sends everything overdue at once: those requests were due, and their latency says so.
 */
export const pace = (options: {
  startAt: number
  intervalMs: number
  count: number
  send: (scheduledAt: number) => void
}): Promise<void> =>
  new Promise((resolve) => {
    const { startAt, intervalMs, count, send } = options
    let next = 0
    const wake = (): void => {
      const horizon = performance.now() + earlySendMs
      while (next < count && startAt + next * intervalMs <= horizon) {
        send(startAt + next * intervalMs)
        next += 1
      }
      if (next >= count) {
        resolve()
        return
      }
      setTimeout(wake, Math.max(1, Math.floor(startAt + next * intervalMs - performance.now())))
    }
    wake()
  })

/** Reads a response body to its end: the text when it is to be verified, otherwise only the bytes. */
const readBody = async (
  body: Dispatcher.ResponseData['body'],
  keepText: boolean
): Promise<string | undefined> => {
  if (keepText) return body.text()
  for await (const _chunk of body) {
    // Drained: the latency ends with the last byte.
  }
  return undefined
}

/** Why a 2xx response is not what the job expects (`verify`, `expectCache`), or `null`. */
const problemOf = (
  job: Pick<LoadJob, 'verify' | 'expectCache'>,
  text: string | undefined,
  cacheHeader: string | undefined
): string | null => {
  if (job.expectCache !== undefined && cacheHeader !== job.expectCache)
    return `x-gatehouse-cache: ${cacheHeader ?? '(none)'} where ${job.expectCache} was expected`
  return job.verify === undefined ? null : bodyProblems[job.verify](text ?? '')
}

const countResponse = (
  tally: Tally,
  response: {
    statusCode: number
    text: string | undefined
    latencyMs: number
    cacheHeader: string | undefined
  },
  job: Pick<LoadJob, 'verify' | 'expectCache'>
): void => {
  const { statusCode, text, latencyMs } = response
  tally.statusCodes[statusCode] = (tally.statusCodes[statusCode] ?? 0) + 1
  if (statusCode < 200 || statusCode >= 300) {
    tally.non2xx += 1
    return
  }
  const problem = problemOf(job, text, response.cacheHeader)
  if (problem === null) {
    tally.samples.push(latencyMs)
    return
  }
  tally.mismatches += 1
  tally.firstMismatch ??= problem
}

/** One request, timed from the earlier of its scheduled and actual send time to its last byte; never rejects. */
const sendRequest = async (
  context: RequestContext,
  scheduledAt: number,
  tally: Tally
): Promise<void> => {
  const { pool, path, job, timeoutMs, bodyOf } = context
  const startedAt = Math.min(scheduledAt, performance.now())
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  try {
    const { headers, verify } = job
    const response = await pool.request({
      path,
      method: 'POST',
      headers,
      body: bodyOf(),
      signal: controller.signal,
    })
    const text = await readBody(response.body, verify !== undefined)
    const cacheHeader = response.headers['x-gatehouse-cache']
    countResponse(
      tally,
      {
        statusCode: response.statusCode,
        text,
        latencyMs: performance.now() - startedAt,
        cacheHeader: Array.isArray(cacheHeader) ? cacheHeader.join(', ') : cacheHeader,
      },
      job
    )
  } catch {
    tally.errors += 1
    if (timedOut) tally.timeouts += 1
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `seconds` of paced requests, then the wait for the last answers (each request is aborted after the timeout, so the
 * wait ends). The measured time is the scheduling window, or longer when the last answers came after it: a target
 * that falls behind the rate shows a lower rate rather than the one asked for.
 */
const runPhase = async (context: RequestContext, seconds: number): Promise<PhaseResult> => {
  const rate = context.job.overallRate
  const tally = emptyTally()
  const pending: Promise<void>[] = []
  const startAt = performance.now()
  let lastAnswerAt = startAt
  await pace({
    startAt,
    intervalMs: 1_000 / rate,
    count: Math.max(1, Math.round(seconds * rate)),
    send: (scheduledAt) => {
      const answered = sendRequest(context, scheduledAt, tally).then(() => {
        lastAnswerAt = performance.now()
      })
      pending.push(answered)
    },
  })
  await Promise.all(pending)
  return { ...tally, measuredSeconds: Math.max(seconds, (lastAnswerAt - startAt) / 1_000) }
}

const resultOf = (measured: PhaseResult, warmup: PhaseResult | undefined): LoadRun => {
  const ok = measured.samples.length
  return {
    ok,
    non2xx: measured.non2xx,
    errors: measured.errors,
    timeouts: measured.timeouts,
    mismatches: measured.mismatches,
    ...((measured.firstMismatch ?? warmup?.firstMismatch) === undefined
      ? {}
      : { firstMismatch: measured.firstMismatch ?? warmup?.firstMismatch }),
    warmupFailures: warmup === undefined ? 0 : warmup.non2xx + warmup.errors + warmup.mismatches,
    statusCodes: measured.statusCodes,
    measuredSeconds: measured.measuredSeconds,
    requestsPerSecond: ok / measured.measuredSeconds,
    latencyMs: summariseLatency(measured.samples),
    latencySamplesMs: measured.samples,
  }
}

/** A paced warm-up (its failures counted, its latencies dropped), then the paced measurement, on the same sockets. */
export const runPacedLoad = async (job: PacedLoadJob): Promise<LoadRun> => {
  if (!(job.overallRate > 0) || !Number.isFinite(job.overallRate)) {
    throw new Error(
      `overallRate must be a positive number of requests per second (got ${job.overallRate})`
    )
  }
  const url = new URL(job.url)
  const pool = new Pool(url.origin, { connections: job.connections, pipelining: 1 })
  const timeoutMs = job.requestTimeoutMs ?? defaultRequestTimeoutMs
  const marker = job.uniqueMarker
  // A run's own random prefix, then a count: no request repeats one of this run or of an earlier one.
  const runId = randomBytes(6).toString('hex')
  let sent = 0
  const bodyOf =
    marker === undefined || marker === ''
      ? () => job.body
      : () => {
          sent += 1
          return job.body.replace(marker, `${runId}-${sent}`)
        }
  const context: RequestContext = {
    pool,
    path: `${url.pathname}${url.search}`,
    job,
    timeoutMs,
    bodyOf,
  }
  try {
    const warmup = job.warmupSeconds > 0 ? await runPhase(context, job.warmupSeconds) : undefined
    return resultOf(await runPhase(context, job.durationSeconds), warmup)
  } finally {
    await pool.destroy()
  }
}
