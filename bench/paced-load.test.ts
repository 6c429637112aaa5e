/**
 * The paced generator against a tiny local server that records when each request arrives: requests must arrive
 * evenly spaced (not in autocannon's per-second bursts), latency must be the server's, a stall must count against
 * every request scheduled during it (coordinated omission corrected), and a response that never comes must not hang
 * the run.
 */
import { createServer } from 'node:http'
import type { ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { PacedLoadJob } from './paced-load.ts'
import { runPacedLoad } from './paced-load.ts'

/** How the server answers its `index`-th request (0-based, in arrival order). */
type Reply = (index: number, response: ServerResponse) => void

type TestServer = { url: string; arrivals: number[]; close(): Promise<void> }

const servers: TestServer[] = []

const startServer = async (reply: Reply): Promise<TestServer> => {
  const arrivals: number[] = []
  const server = createServer((request, response) => {
    const index = arrivals.length
    arrivals.push(performance.now())
    request.resume()
    request.on('end', () => reply(index, response))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const handle: TestServer = {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    arrivals,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  servers.push(handle)
  return handle
}

/** What the `json` verifier accepts: the mock's chat completion. */
const okBody = JSON.stringify({
  object: 'chat.completion',
  choices: [{ message: { role: 'assistant', content: 'echo: hi' } }],
})

const answerAfter =
  (delayMs: number, options: { status?: number; body?: string } = {}) =>
  (response: ServerResponse): void => {
    setTimeout(() => {
      response.writeHead(options.status ?? 200, { 'content-type': 'application/json' })
      response.end(options.body ?? okBody)
    }, delayMs)
  }

const jobFor = (url: string, overrides: Partial<PacedLoadJob>): PacedLoadJob => ({
  url,
  headers: { 'content-type': 'application/json' },
  body: '{"model":"m","messages":[]}',
  connections: 4,
  durationSeconds: 1,
  warmupSeconds: 0,
  overallRate: 100,
  ...overrides,
})

/** The most arrivals within any `windowMs` (sorted times). */
const densest = (times: readonly number[], windowMs: number): number => {
  let most = 0
  let first = 0
  for (let last = 0; last < times.length; last += 1) {
    while (times[last] - times[first] >= windowMs) first += 1
    most = Math.max(most, last - first + 1)
  }
  return most
}

/** A server that keeps every request's body and answers the `json` verifier's body. */
const startServerRecordingBodies = async (bodies: string[]): Promise<TestServer> => {
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => (body += chunk))
    request.on('end', () => {
      bodies.push(body)
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(okBody)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const handle: TestServer = {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    arrivals: [],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  servers.push(handle)
  return handle
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

describe('runPacedLoad', () => {
  it('sends evenly spaced requests, and times them as the server answers', async () => {
    const server = await startServer((_index, response) => answerAfter(2)(response))
    const result = await runPacedLoad(jobFor(server.url, { overallRate: 100, durationSeconds: 1 }))

    expect(result).toMatchObject({
      ok: 100,
      non2xx: 0,
      errors: 0,
      timeouts: 0,
      mismatches: 0,
      warmupFailures: 0,
    })
    expect(result.statusCodes).toEqual({ 200: 100 })
    expect(server.arrivals).toHaveLength(100)
    const gaps = server.arrivals.slice(1).map((time, index) => time - server.arrivals[index])
    const medianGap = gaps.sort((left, right) => left - right)[Math.floor(gaps.length / 2)]
    expect(medianGap).toBeGreaterThan(9)
    expect(medianGap).toBeLessThan(11)
    // autocannon would send 25 back to back here (100 req/s over 4 connections). A timer late by a period or two
    // (a loaded CI machine; the server shares the event loop) lets the overdue requests meet the next: up to 4.
    expect(densest(server.arrivals, 5)).toBeLessThanOrEqual(4)
    expect(result.latencyMs.p50).toBeGreaterThan(1)
    expect(result.latencyMs.p50).toBeLessThan(8)
    expect(result.measuredSeconds).toBeGreaterThanOrEqual(1)
    expect(result.measuredSeconds).toBeLessThan(1.2)
    expect(result.requestsPerSecond).toBeGreaterThan(80)
  })

  it('counts a stall against every request scheduled during it (coordinated omission corrected)', async () => {
    const server = await startServer((index, response) =>
      answerAfter(index === 20 ? 300 : 2)(response)
    )
    const result = await runPacedLoad(
      jobFor(server.url, { connections: 1, overallRate: 100, durationSeconds: 1 })
    )

    expect(result).toMatchObject({ ok: 100, errors: 0 })
    // The ~30 requests due during the 300 ms stall waited for the one socket: 300, 290, 280 ... ms from their schedule.
    // Timed from their actual send, only the stalled request would be slow and p99 would stay near 2 ms.
    expect(result.latencyMs.max).toBeGreaterThanOrEqual(295)
    expect(result.latencyMs.p99).toBeGreaterThanOrEqual(200)
    expect(result.latencyMs.p90).toBeGreaterThanOrEqual(50)
    // Far below the stall even on a loaded machine: most requests were not delayed by it.
    expect(result.latencyMs.p50).toBeLessThan(100)
  })

  it('aborts a response that never comes, counts it as a timeout, and still ends the run', async () => {
    const server = await startServer((index, response) => {
      if (index !== 5) answerAfter(2)(response)
    })
    const startedAt = performance.now()
    const result = await runPacedLoad(
      jobFor(server.url, {
        connections: 2,
        overallRate: 50,
        durationSeconds: 0.5,
        requestTimeoutMs: 300,
      })
    )

    expect(performance.now() - startedAt).toBeLessThan(2_000)
    expect(result).toMatchObject({ ok: 24, errors: 1, timeouts: 1, non2xx: 0 })
  })

  it('counts warm-up failures apart, drops warm-up latencies, and verifies bodies', async () => {
    const server = await startServer((index, response) => {
      if (index < 3) answerAfter(1, { status: 503, body: '{}' })(response)
      else if (index === 15) answerAfter(1, { body: '{"object":"error"}' })(response)
      else answerAfter(1)(response)
    })
    const result = await runPacedLoad(
      jobFor(server.url, {
        overallRate: 50,
        warmupSeconds: 0.2,
        durationSeconds: 0.4,
        verify: 'json',
      })
    )

    expect(server.arrivals).toHaveLength(30)
    expect(result).toMatchObject({ warmupFailures: 3, ok: 19, mismatches: 1, non2xx: 0, errors: 0 })
    expect(result.statusCodes).toEqual({ 200: 20 })
  })

  it('counts an answer whose x-gatehouse-cache is not the expected one as a mismatch, and says what it was', async () => {
    const server = await startServer((index, response) => {
      setTimeout(() => {
        response.writeHead(200, {
          'content-type': 'application/json',
          ...(index === 7
            ? { 'x-gatehouse-cache': 'miss' }
            : index === 12
              ? {}
              : { 'x-gatehouse-cache': 'hit' }),
        })
        response.end(okBody)
      }, 1)
    })
    const result = await runPacedLoad(
      jobFor(server.url, {
        overallRate: 50,
        durationSeconds: 0.4,
        expectCache: 'hit',
        verify: 'json',
      })
    )

    expect(result).toMatchObject({ ok: 18, mismatches: 2, non2xx: 0, errors: 0 })
    expect(result.firstMismatch).toBe('x-gatehouse-cache: miss where hit was expected')
  })

  it('sends, with a unique marker, a body of its own in every request, of this run and of the next', async () => {
    const bodies: string[] = []
    const server = await startServerRecordingBodies(bodies)
    const job = jobFor(server.url, {
      overallRate: 50,
      durationSeconds: 0.2,
      warmupSeconds: 0.1,
      body: '{"model":"m","messages":[{"role":"user","content":"hello #n#"}]}',
      uniqueMarker: '#n#',
    })
    await runPacedLoad(job)
    await runPacedLoad(job)

    expect(bodies).toHaveLength(30)
    expect(new Set(bodies).size).toBe(30)
    for (const body of bodies)
      expect(body).toMatch(
        /^\{"model":"m","messages":\[\{"role":"user","content":"hello [0-9a-f]+-\d+"\}\]\}$/
      )
  })
})
