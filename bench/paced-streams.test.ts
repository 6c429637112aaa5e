/**
 * The paced-streams driver against the bench's own mock, in process: it must hold its streams open at once (the
 * chunk rate says so), bring every one back whole, time the chunks, read the target's CPU over the window, and
 * catch a stream that is not what the client asked for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatRequestBody } from './bench-settings.ts'
import { startLeanMockUpstream } from './lean-mock-upstream.ts'
import type { LeanMockUpstream } from './lean-mock-upstream.ts'
import { chunksThatFit, runPacedStreams } from './paced-streams.ts'
import type { PacedStreamsJob } from './paced-streams.ts'

let mock: LeanMockUpstream

beforeAll(async () => {
  mock = await startLeanMockUpstream({
    apiKey: 'bench',
    answer: 'echo: hi',
    streamChunks: 5,
    models: ['gpt-4o-mini'],
  })
})

afterAll(() => mock.close())

const jobFor = (options: { includeUsage: boolean; bodyAsksUsage?: boolean }): PacedStreamsJob => ({
  url: `${mock.baseUrl}/chat/completions`,
  headers: { authorization: 'Bearer bench', 'content-type': 'application/json' },
  body: chatRequestBody({
    stream: true,
    includeUsage: options.bodyAsksUsage ?? options.includeUsage,
    paced: { chunks: 8, intervalMs: 10 },
  }),
  connections: 10,
  warmupSeconds: 0.2,
  durationSeconds: 0.5,
  pacedStreams: {
    chunks: 8,
    intervalMs: 10,
    includeUsage: options.includeUsage,
    cpuPid: process.pid,
  },
})

describe('runPacedStreams', () => {
  it.each([true, false])(
    'holds its streams open at once and brings each back whole (include_usage %s)',
    async (includeUsage) => {
      const servedBefore = mock.served()
      const result = await runPacedStreams(jobFor({ includeUsage }))

      expect(result).toMatchObject({ non2xx: 0, errors: 0, timeouts: 0, mismatches: 0 })
      expect(result.ok).toBe(mock.served() - servedBefore)
      // Streams of 8 chunks, 10 ms apart, 90 ms each: about 0.9 s / 90 ms per slot, 10 slots, so 100 on an idle
      // machine; one slot at a time would bring 10. The bounds leave room for a loaded machine's stalls.
      expect(result.ok).toBeGreaterThanOrEqual(40)
      // 10 streams at once, 100 chunks per second each (plus their role and finish events), over the window only.
      expect(result.measuredSeconds).toBeGreaterThan(0.45)
      expect(result.measuredSeconds).toBeLessThan(0.6)
      expect(result.requestsPerSecond).toBeGreaterThan(400)
      expect(result.requestsPerSecond).toBeLessThan(1_500)
      expect(result.chunkFigures?.chunks).toBe(result.latencySamplesMs.length)
      expect(result.chunkFigures?.cpuSeconds).toBeGreaterThanOrEqual(0)
      // Same process, same clock: a chunk's delay is the time from the mock's write to the driver's read.
      expect(result.latencyMs.p50).toBeGreaterThan(0)
      expect(result.latencyMs.p50).toBeLessThan(50)
    }
  )

  it("tags its streams with the job's phase, which the mock counts them by, whatever else reaches it", async () => {
    const job = jobFor({ includeUsage: true })
    const phase = `test-${Date.now()}`
    const [result] = await Promise.all([
      runPacedStreams({ ...job, pacedStreams: { ...job.pacedStreams, phase } }),
      // Another phase's streams at the same time: counted apart.
      runPacedStreams(jobFor({ includeUsage: false })),
    ])
    expect(result).toMatchObject({ non2xx: 0, errors: 0, timeouts: 0, mismatches: 0 })
    expect(result.ok).toBeGreaterThan(0)
    expect(mock.servedInPhase(phase)).toBe(result.ok)
    expect(mock.servedInPhase('no-such-phase')).toBe(0)
  })

  it('fails a stream that carries a usage the client did not ask for', async () => {
    const result = await runPacedStreams(jobFor({ includeUsage: false, bodyAsksUsage: true }))
    expect(result.ok).toBe(0)
    expect(result.mismatches).toBeGreaterThan(0)
    expect(result.chunkFigures?.firstProblem).toBe('1 usage chunks with include_usage false')
  })
})

describe('chunksThatFit', () => {
  it('gives a stream the chunks it wants when they end (finish included) before the stop, fewer otherwise', () => {
    expect(chunksThatFit({ now: 0, stopAt: 4_100, intervalMs: 20, wanted: 200 })).toBe(200)
    expect(chunksThatFit({ now: 0, stopAt: 1_000, intervalMs: 20, wanted: 200 })).toBe(49)
    expect(chunksThatFit({ now: 990, stopAt: 1_000, intervalMs: 20, wanted: 200 })).toBe(0)
    expect(chunksThatFit({ now: 1_200, stopAt: 1_000, intervalMs: 20, wanted: 200 })).toBe(0)
  })
})
