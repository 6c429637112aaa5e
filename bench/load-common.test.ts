import { describe, expect, it } from 'vitest'
import {
  bodyProblems,
  cpuMsPerThousandChunks,
  mergeChunkFigures,
  mergeLoadRuns,
  type LoadRun,
} from './load-common.ts'

const loadRun = (options: {
  ok: number
  seconds: number
  samples: number[]
  non2xx?: number
  codes?: Record<string, number>
}): LoadRun => ({
  ok: options.ok,
  non2xx: options.non2xx ?? 0,
  errors: 0,
  timeouts: 0,
  mismatches: 0,
  warmupFailures: 0,
  statusCodes: options.codes ?? { '200': options.ok },
  measuredSeconds: options.seconds,
  requestsPerSecond: options.ok / options.seconds,
  latencyMs: { p50: null, p90: null, p99: null, max: null, mean: null },
  latencySamplesMs: options.samples,
})

describe('mergeLoadRuns', () => {
  it('adds counts and time, takes the rate over the total time and the percentiles over every sample', () => {
    const slow = loadRun({ ok: 100, seconds: 2, samples: Array.from({ length: 100 }, () => 10) })
    const fast = loadRun({
      ok: 300,
      seconds: 2,
      samples: Array.from({ length: 300 }, () => 2),
      non2xx: 1,
      codes: { '200': 300, '502': 1 },
    })
    const merged = mergeLoadRuns([slow, fast])
    expect(merged.ok).toBe(400)
    expect(merged.non2xx).toBe(1)
    expect(merged.statusCodes).toEqual({ '200': 400, '502': 1 })
    expect(merged.measuredSeconds).toBe(4)
    // 400 answers in 4 s, not the mean of 50 and 150 per second weighted otherwise.
    expect(merged.requestsPerSecond).toBe(100)
    expect(merged.latencyMs.p50).toBe(2)
    expect(merged.latencyMs.p90).toBe(10)
    expect(merged.latencyMs.max).toBe(10)
    expect(merged.latencyMs.mean).toBeCloseTo((100 * 10 + 300 * 2) / 400)
  })

  it("keeps the first round's description of a body that failed its check", () => {
    const clean = loadRun({ ok: 1, seconds: 1, samples: [1] })
    const failed = (problem: string): LoadRun => ({
      ...clean,
      mismatches: 1,
      firstMismatch: problem,
    })
    expect(mergeLoadRuns([clean, failed('first'), failed('second')]).firstMismatch).toBe('first')
    expect(mergeLoadRuns([clean, clean])).not.toHaveProperty('firstMismatch')
  })

  it('gives an empty result for no runs rather than dividing by zero', () => {
    const merged = mergeLoadRuns([])
    expect(merged.ok).toBe(0)
    expect(merged.requestsPerSecond).toBe(0)
    expect(merged.latencyMs.p99).toBeNull()
  })
})

describe('chunk figures', () => {
  const withChunks = (
    chunks: number,
    cpuSeconds: number | null,
    firstProblem?: string
  ): LoadRun => ({
    ...loadRun({ ok: 1, seconds: 2, samples: [] }),
    chunkFigures: { chunks, cpuSeconds, ...(firstProblem === undefined ? {} : { firstProblem }) },
  })

  it('gives CPU milliseconds per 1,000 chunks, and none without a reading or without chunks', () => {
    expect(cpuMsPerThousandChunks(0.5, 50_000)).toBeCloseTo(10)
    expect(cpuMsPerThousandChunks(null, 50_000)).toBeNull()
    expect(cpuMsPerThousandChunks(0.5, 0)).toBeNull()
  })

  it('adds up chunks and CPU over the rounds, so a round weighs by its chunks, not as a mean of per-round figures', () => {
    const merged = mergeChunkFigures([
      withChunks(10_000, 0.3),
      withChunks(40_000, 0.2, 'no [DONE]'),
    ])
    // 0.5 s over 50,000 chunks: 10 ms per 1,000 (the mean of the rounds' 30 and 5 would say 17.5).
    expect(merged).toEqual({
      chunks: 50_000,
      cpuSeconds: 0.5,
      cpuMsPerThousandChunks: 10,
      firstProblem: 'no [DONE]',
    })
  })

  it('has no CPU figure when one round could not read it, and no figures at all for runs without chunks', () => {
    expect(
      mergeChunkFigures([withChunks(10_000, 0.3), withChunks(10_000, null)])?.cpuMsPerThousandChunks
    ).toBeNull()
    expect(mergeChunkFigures([loadRun({ ok: 1, seconds: 1, samples: [1] })])).toBeUndefined()
  })
})

describe('bodyProblems', () => {
  it("says why a body is not the mock's answer, and checks the converted streams whole", () => {
    expect(bodyProblems.sse('data: {"finish_reason":"stop"}\n\ndata: [DONE]\n\n')).toBeNull()
    expect(bodyProblems.sse('data: {"finish_reason":"stop"}\n\n')).toMatch(
      /^not the mock's whole stream/
    )
    expect(
      bodyProblems.json(
        '{"object":"chat.completion","choices":[{"message":{"content":"echo: x"}}]}'
      )
    ).toBeNull()
    expect(bodyProblems.json('{')).toBe('not JSON: {')
    // An empty stream is short of every chunk the mock sent.
    expect(
      bodyProblems['responses-sse'](
        'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
      )
    ).toBe('0 response.output_text.delta events for 20 upstream content chunks')
    expect(bodyProblems['messages-sse']('')).toBe('the body does not end with a whole event')
  })
})
