/**
 * The paced-streams scenario's load: what a gateway carries for LLM traffic, many long streams at once whose chunks
 * come as the model generates them. `connections` streams are held open for the whole phase, each slot opening its
 * next stream as the last one ends; the mock paces every stream (one content chunk every `intervalMs`) and stamps
 * every event with the time it wrote it (`read-chunk-stamps.ts`), and this reads each event's stamp as it arrives.
 *
 * The slots' first streams are cut to 1/n, 2/n ... of a full stream, so that the streams end, and new ones start,
 * evenly spread over time from the start: the phase is in its steady state (`connections` streams, a chunk rate of
 * `connections × 1000 / intervalMs` per second, a stream opened every `chunks × intervalMs / connections` ms) after
 * the first burst of requests, which falls in the unmeasured lead-in. Streams are also cut to end within `tailSeconds`
 * after the measured window, so that the phase does not wait for a full stream to drain, and the burst of their ends
 * falls after the window.
 *
 * The measured window is the lead-in's end to `durationSeconds` later, as this process's timers see it: it reads the
 * target's CPU time (`/proc`) at both ends, and counts the events that arrived in between and their delays. Every
 * stream of the phase, in the window or not, must come back whole (`streamProblem`) or it counts as a mismatch.
 */
import { Pool } from 'undici'
import type { LoadJob, LoadRun } from './load-common.ts'
import { summariseLatency } from './load-common.ts'
import { monotonicMicros } from './monotonic-micros.ts'
import { readCpuSeconds } from './read-cpu-seconds.ts'
import { createStampReader, streamProblem } from './read-chunk-stamps.ts'

export type PacedStreamsSpec = {
  /** Content chunks of a full stream. */
  chunks: number
  /** The mock's pacing: one content chunk every `intervalMs` per stream. */
  intervalMs: number
  /** The client asks `stream_options.include_usage` (the body says so; the check expects it). */
  includeUsage: boolean
  /** The target's process, whose CPU time is read at both ends of the window; `null` for none (the direct call). */
  cpuPid: number | null
  /** How long after the window the last streams may run (unmeasured); default 0.5 s, or one stream if shorter. */
  tailSeconds?: number
  /** From its request, after which a stream is aborted and counted as an error and a timeout; default 10 s. */
  streamTimeoutMs?: number
  /** Sent as `metadata.bench_phase`, which the mock counts by: the requests of this phase alone. */
  phase?: string
}

/** `connections` concurrent streams; `warmupSeconds` is the unmeasured lead-in, `durationSeconds` the window. */
export type PacedStreamsJob = LoadJob & { pacedStreams: PacedStreamsSpec }

type PhaseState = {
  pool: Pool
  path: string
  job: PacedStreamsJob
  bodies: Map<number, string>
  /** `performance.now()` after which no stream may still be running. */
  stopAt: number
  /** The window in monotonic microseconds; `Infinity` until it opens and until it closes. */
  windowStart: number
  windowEnd: number
  delaysMs: number[]
  chunks: number
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  mismatches: number
  statusCodes: Record<string, number>
  firstProblem: string | undefined
}

/** The job's body with `metadata.bench_chunks` set to `chunks` (the mock streams that many content chunks). */
const bodyFor = (state: PhaseState, chunks: number): string => {
  let body = state.bodies.get(chunks)
  if (body === undefined) {
    const parsed = JSON.parse(state.job.body) as { metadata?: Record<string, string> }
    body = JSON.stringify({
      ...parsed,
      metadata: {
        ...parsed.metadata,
        bench_chunks: String(chunks),
        ...(state.job.pacedStreams.phase === undefined
          ? {}
          : { bench_phase: state.job.pacedStreams.phase }),
      },
    })
    state.bodies.set(chunks, body)
  }
  return body
}

/** undici's body ignores `setEncoding`: each `Buffer` is decoded here (Latin-1: the stamps and keys are ASCII). */
const readBody = (body: NodeJS.ReadableStream, onText: (text: string) => void): Promise<void> =>
  new Promise((resolve, reject) => {
    body.on('data', (chunk: Buffer) => {
      try {
        onText(chunk.toString('latin1'))
      } catch (error) {
        reject(error)
      }
    })
    body.once('end', resolve)
    body.once('error', reject)
  })

/** One stream of `chunks` content chunks, read to its end and checked; never rejects. */
const runStream = async (state: PhaseState, chunks: number): Promise<void> => {
  const { pool, path, job } = state
  const spec = job.pacedStreams
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(
    () => {
      timedOut = true
      controller.abort()
    },
    (chunks + 1) * spec.intervalMs + (spec.streamTimeoutMs ?? 10_000)
  )
  try {
    const response = await pool.request({
      path,
      method: 'POST',
      headers: job.headers,
      body: bodyFor(state, chunks),
      signal: controller.signal,
    })
    state.statusCodes[response.statusCode] = (state.statusCodes[response.statusCode] ?? 0) + 1
    if (response.statusCode < 200 || response.statusCode >= 300) {
      state.non2xx += 1
      await response.body.dump()
      return
    }
    const reader = createStampReader((stamp, arrival) => {
      if (arrival < state.windowStart || arrival >= state.windowEnd) return
      state.chunks += 1
      state.delaysMs.push((arrival - stamp) / 1_000)
    })
    await readBody(response.body, (text) => reader.push(text, monotonicMicros()))
    const problem = streamProblem(reader.end(), {
      contentChunks: chunks,
      includeUsage: spec.includeUsage,
    })
    if (problem === null) state.ok += 1
    else {
      state.mismatches += 1
      state.firstProblem ??= problem
    }
  } catch {
    state.errors += 1
    if (timedOut) state.timeouts += 1
  } finally {
    clearTimeout(timer)
  }
}

/** How many content chunks a stream opened now may have to end (one more interval, for its finish) by `stopAt`. */
export const chunksThatFit = (options: {
  now: number
  stopAt: number
  intervalMs: number
  wanted: number
}): number =>
  Math.max(
    0,
    Math.min(options.wanted, Math.floor((options.stopAt - options.now) / options.intervalMs) - 1)
  )

/** A slot's streams, back to back; the first is `share` of a full stream, so that the slots' ends are spread. */
const runSlot = async (state: PhaseState, share: number): Promise<void> => {
  const { chunks, intervalMs } = state.job.pacedStreams
  let wanted = Math.max(1, Math.ceil(chunks * share))
  for (;;) {
    const fit = chunksThatFit({ now: performance.now(), stopAt: state.stopAt, intervalMs, wanted })
    if (fit < 1) return
    await runStream(state, fit)
    wanted = chunks
  }
}

const readCpu = (pid: number | null): number | null => (pid === null ? null : readCpuSeconds(pid))

/** Runs the phase; see the header. */
export const runPacedStreams = async (job: PacedStreamsJob): Promise<LoadRun> => {
  const spec = job.pacedStreams
  if (!(job.connections >= 1) || !(spec.chunks >= 1) || !(spec.intervalMs >= 1)) {
    throw new Error(
      `paced streams need at least one stream of one chunk, paced at 1 ms or more (got ${JSON.stringify(spec)})`
    )
  }
  const url = new URL(job.url)
  const pool = new Pool(url.origin, { connections: job.connections, pipelining: 1 })
  const startedAt = performance.now()
  const windowOpensAt = startedAt + job.warmupSeconds * 1_000
  const windowClosesAt = windowOpensAt + job.durationSeconds * 1_000
  const state: PhaseState = {
    pool,
    path: `${url.pathname}${url.search}`,
    job,
    bodies: new Map(),
    stopAt:
      windowClosesAt +
      (spec.tailSeconds ?? Math.min(0.5, ((spec.chunks + 1) * spec.intervalMs) / 1_000)) * 1_000,
    windowStart: Number.POSITIVE_INFINITY,
    windowEnd: Number.POSITIVE_INFINITY,
    delaysMs: [],
    chunks: 0,
    ok: 0,
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    mismatches: 0,
    statusCodes: {},
    firstProblem: undefined,
  }
  const cpu = { start: null as number | null, end: null as number | null }
  const window = new Promise<void>((resolve) => {
    setTimeout(
      () => {
        cpu.start = readCpu(spec.cpuPid)
        state.windowStart = monotonicMicros()
        setTimeout(
          () => {
            cpu.end = readCpu(spec.cpuPid)
            state.windowEnd = monotonicMicros()
            resolve()
          },
          Math.max(0, windowClosesAt - performance.now())
        )
      },
      Math.max(0, windowOpensAt - performance.now())
    )
  })
  try {
    await Promise.all([
      window,
      ...Array.from({ length: job.connections }, (_, slot) =>
        runSlot(state, (slot + 1) / job.connections)
      ),
    ])
  } finally {
    await pool.destroy()
  }
  const windowSeconds = (state.windowEnd - state.windowStart) / 1_000_000
  return {
    ok: state.ok,
    non2xx: state.non2xx,
    errors: state.errors,
    timeouts: state.timeouts,
    mismatches: state.mismatches,
    warmupFailures: 0,
    statusCodes: state.statusCodes,
    measuredSeconds: windowSeconds,
    requestsPerSecond: state.chunks / windowSeconds,
    latencyMs: summariseLatency(state.delaysMs),
    latencySamplesMs: state.delaysMs,
    chunkFigures: {
      chunks: state.chunks,
      cpuSeconds: cpu.start === null || cpu.end === null ? null : cpu.end - cpu.start,
      ...(state.firstProblem === undefined ? {} : { firstProblem: state.firstProblem }),
    },
  }
}
