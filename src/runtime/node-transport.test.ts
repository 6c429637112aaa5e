import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { afterEach, describe, it, expect } from 'vitest'
import type { ChunkReader, UpstreamResponse } from '../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { readPiped } from '../../test/helpers/read-piped.ts'
import { Agent } from 'undici'
import { createNodeTransport, releaseRawHeaders } from './node-transport.ts'
import type { NodeTransport } from './node-transport.ts'

type Handler = (request: IncomingMessage, response: ServerResponse) => void

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

const startServer = async (handler: Handler): Promise<{ url: string; server: Server }> => {
  const server = createServer(handler)
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

/** Announces 100 bytes, sends 7, then drops the connection after `ms`. */
const partialThenDrop =
  (ms: number): Handler =>
  (request, response) => {
    response.writeHead(200, { 'content-length': '100' })
    response.write('partial')
    setTimeout(() => request.socket.destroy(), ms)
  }

/** A server that offers 4 MiB in 64 KiB pieces, as fast as the client takes them, and reports its progress. */
const startFloodingServer = async () => {
  const piece = Buffer.alloc(64 * 1024, 'y')
  let written = 0
  let finished = false
  const { url } = await startServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/octet-stream' })
    const pump = (): void => {
      while (written < 64 * piece.length) {
        written += piece.length
        if (!response.write(piece)) {
          response.once('drain', pump)
          return
        }
      }
      response.end(() => (finished = true))
    }
    pump()
  })
  return { url, piece, written: () => written, finished: () => finished }
}

const transport = (options?: Parameters<typeof createNodeTransport>[0]): NodeTransport => {
  const created = createNodeTransport(options)
  cleanups.push(() => created.close())
  return created
}

const readBody = async (body: ReadableStream<Uint8Array>): Promise<string> =>
  new Response(body).text()

const rejection = async (promise: Promise<unknown>): Promise<ProviderError> => {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError)
    return error as ProviderError
  }
  throw new Error('expected a rejection')
}

const signal = (): AbortSignal => new AbortController().signal

/** A TCP server that never answers the TLS handshake: an `https` URL to it is still connecting when asked about. */
const startSilentTlsServer = async (): Promise<string> => {
  const silent = createTcpServer(() => {})
  const sockets: Socket[] = []
  silent.on('connection', (socket) => sockets.push(socket))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })
  return `https://127.0.0.1:${(silent.address() as AddressInfo).port}/v1/models`
}

describe('createNodeTransport', () => {
  it('sends the body with a content-length counted in bytes, replacing one the caller set', async () => {
    const seen: { headers: IncomingMessage['headers']; body: string }[] = []
    const { url } = await startServer((request, response) => {
      let body = ''
      request.setEncoding('utf8')
      request.on('data', (chunk: string) => (body += chunk))
      request.on('end', () => {
        seen.push({ headers: request.headers, body })
        response.writeHead(201, {
          'content-type': 'application/json',
          'x-request-id': 'up-1',
          'set-cookie': ['a=1', 'b=2'],
        })
        response.end('{"ok":true}')
      })
    })
    const body = JSON.stringify({ text: 'héllo — ✓' })
    const response = await transport().request({
      url: `${url}/v1/chat/completions?x=1`,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'Content-Length': '3',
        authorization: 'Bearer sk-up',
      },
      body,
      signal: signal(),
    })
    expect(response.status).toBe(201)
    expect(response.headers.get('x-request-id')).toBe('up-1')
    expect(response.headers.get('X-Request-ID')).toBe('up-1')
    expect(response.headers.has('content-type')).toBe(true)
    expect(response.headers.has('x-missing')).toBe(false)
    expect(response.headers.get('set-cookie')).toBe('a=1, b=2')
    expect([...response.headers]).toContainEqual(['x-request-id', 'up-1'])
    expect([...response.headers]).toContainEqual(['set-cookie', 'a=1, b=2'])
    const visited: [string, string][] = []
    response.headers.forEach((value, name) => visited.push([name, value]))
    expect(visited).toEqual([...response.headers])
    expect(await readBody(response.body)).toBe('{"ok":true}')
    expect(seen[0].body).toBe(body)
    expect(seen[0].headers['content-length']).toBe(
      String(new TextEncoder().encode(body).byteLength)
    )
    expect(seen[0].headers.authorization).toBe('Bearer sk-up')
    expect(seen[0].headers['accept-encoding']).toBeUndefined()
  })

  it('sends a GET without a body or content-length', async () => {
    let headers: IncomingMessage['headers'] = {}
    const { url } = await startServer((request, response) => {
      headers = request.headers
      response.end('[]')
    })
    const response = await transport().request({
      url: `${url}/v1/models`,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    expect(await readBody(response.body)).toBe('[]')
    expect(headers['content-length']).toBeUndefined()
    expect(headers['transfer-encoding']).toBeUndefined()
  })

  it('rejects with a connection error (502) when the connection is refused', async () => {
    const { url, server } = await startServer((_request, response) => response.end())
    await new Promise((resolve) => server.close(resolve))
    const error = await rejection(
      transport().request({ url, method: 'GET', headers: {}, signal: signal() })
    )
    expect(error).toMatchObject({ kind: 'connection', status: 502, retryable: true })
    expect(error.message).not.toContain('127.0.0.1')
    expect(error.detail).toContain('ECONNREFUSED')
  })

  it('rejects with a timeout (504) when connecting takes longer than connectTimeoutMs', async () => {
    // undici's connect timeout covers TCP and TLS.
    const url = await startSilentTlsServer()
    const started = Date.now()
    const error = await rejection(
      transport().request({
        url,
        method: 'GET',
        headers: {},
        signal: signal(),
        connectTimeoutMs: 150,
      })
    )
    // The request was never sent: nothing the provider could bill (a cut call's usage, handle-chat.ts).
    expect(error).toMatchObject({ kind: 'timeout', status: 504, retryable: true, unsent: true })
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  /** A GET to `url` whose signal fires after `ms`, with `reason` (none: the default abort). */
  const requestAbortedAfter = (
    url: string,
    ms: number,
    reason?: unknown,
    options: { connectTimeoutMs?: number } = {}
  ) => {
    const controller = new AbortController()
    const pending = transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: controller.signal,
      ...options,
    })
    setTimeout(() => controller.abort(reason), ms)
    return pending
  }
  const firstByteTimeout = () =>
    new ProviderError({ kind: 'timeout', status: 504, message: 'first byte timeout' })

  it('rejects with an aborted error (499) when the signal fires before the response', async () => {
    const { url } = await startServer(() => {})
    const pending = requestAbortedAfter(url, 50)
    // The server had the request (it answers nothing): not `unsent`, the provider may have worked on it.
    expect(await rejection(pending)).toMatchObject({ kind: 'aborted', status: 499, unsent: false })
  })

  it('marks an abort while still connecting as unsent: nothing reached the upstream to bill', async () => {
    // The TLS handshake never ends: the request is never written.
    const url = await startSilentTlsServer()
    const pending = requestAbortedAfter(url, 100, firstByteTimeout(), { connectTimeoutMs: 5_000 })
    expect(await rejection(pending)).toMatchObject({ kind: 'timeout', status: 504, unsent: true })
  })

  it("rethrows the signal's reason when it is a ProviderError (the core's timeouts)", async () => {
    const { url } = await startServer(() => {})
    const timeout = firstByteTimeout()
    const pending = requestAbortedAfter(url, 50, timeout)
    expect(await rejection(pending)).toBe(timeout)
  })

  it('keeps a fully read connection alive for the next request', async () => {
    const sockets = new Set<unknown>()
    const { url } = await startServer((request, response) => {
      sockets.add(request.socket)
      response.end('ok')
    })
    const pool = transport()
    for (let index = 0; index < 5; index += 1) {
      const response = await pool.request({ url, method: 'GET', headers: {}, signal: signal() })
      expect(await readBody(response.body)).toBe('ok')
      // undici returns the socket to the pool a tick after the body ends (plain undici does the same).
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(sockets.size).toBe(1)
  })

  it('rejects with an aborted error (499) when the signal has fired before the request is sent, and sends nothing', async () => {
    let received = 0
    const { url } = await startServer((_request, response) => {
      received += 1
      response.end('ok')
    })
    const controller = new AbortController()
    controller.abort()
    expect(
      await rejection(
        transport().request({ url, method: 'GET', headers: {}, signal: controller.signal })
      )
    ).toMatchObject({
      kind: 'aborted',
      status: 499,
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(received).toBe(0)
  })

  it('reads a body of many chunks whole with bytes(), even one larger than the backpressure limit', async () => {
    const piece = 'x'.repeat(16 * 1024)
    const { url } = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      for (let index = 0; index < 40; index += 1) response.write(`${index % 10}${piece}`)
      response.end('!')
    })
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    // Let part of the body arrive (and the socket pause) before asking for it.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const text = new TextDecoder().decode(await response.bytes!())
    expect(text.length).toBe(40 * (piece.length + 1) + 1)
    expect(text.startsWith(`0${piece}1`)).toBe(true)
    expect(text.endsWith(`9${piece}!`)).toBe(true)
  })

  it('fails bytes() past maxWholeBodyBytes with a bad response (502) and drops the connection, whatever the upstream goes on sending', async () => {
    const flood = await startFloodingServer()
    const response = await transport({ maxWholeBodyBytes: 1024 * 1024 }).request({
      url: flood.url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    const error = await rejection(response.bytes!())
    expect(error).toMatchObject({ kind: 'bad-response', status: 502 })
    expect(error.message).toBe("The upstream's answer is larger than the gateway reads (1 MiB).")
    // The exchange stopped reading: the server never got to write its 4 MiB.
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(flood.finished()).toBe(false)
    expect(flood.written()).toBeLessThan(4 * 1024 * 1024)
  })

  it('survives cancelling a body after the upstream already failed (no unhandled error event)', async () => {
    const { url } = await startServer(partialThenDrop(10))
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    await new Promise((resolve) => setTimeout(resolve, 60))
    await response.body.cancel()
  })

  it('survives cancelling a body that was never read (destroy emits an error event)', async () => {
    let upstreamClosed: Promise<void> = Promise.resolve()
    const { url } = await startServer((_request, response) => {
      upstreamClosed = new Promise((resolve) => response.on('close', () => resolve()))
      response.writeHead(200)
      response.write('data: 1\n\n')
    })
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    await response.body.cancel()
    await upstreamClosed
    await new Promise((resolve) => setTimeout(resolve, 20))
  })
})

type Readers = [name: string, open: (response: UpstreamResponse) => ChunkReader<Uint8Array>]

describe.each<Readers>([
  ['a Web stream (body)', (response) => response.body.getReader()],
  ['reader(), without a Web stream', (response) => response.reader!()],
  ['reader().pipe(), pushed to a sink', (response) => readPiped(response.reader!())],
])('createNodeTransport: the body read through %s', (_name, open) => {
  const readAllText = async (reader: {
    read(): Promise<ReadableStreamReadResult<Uint8Array>>
  }): Promise<string> => {
    const decoder = new TextDecoder()
    let text = ''
    for (let step = await reader.read(); !step.done; step = await reader.read())
      text += decoder.decode(step.value, { stream: true })
    return text + decoder.decode()
  }

  it('reads chunks as they arrive, then the end', async () => {
    let finish: () => void = () => {}
    const { url } = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write('data: 1\n\n')
      finish = () => response.end('data: [DONE]\n\n')
    })
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    const reader = open(response)
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).toBe('data: 1\n\n')
    finish()
    expect(await readAllText(reader)).toBe('data: [DONE]\n\n')
    expect(await reader.read()).toEqual({ done: true, value: undefined })
  })

  it('rejects a read with an aborted error when the signal fires mid-body, and the upstream sees the close', async () => {
    let upstreamClosed: Promise<void> = Promise.resolve()
    const { url } = await startServer((_request, response) => {
      upstreamClosed = new Promise((resolve) => response.on('close', () => resolve()))
      response.writeHead(200)
      response.write('data: 1\n\n')
    })
    const controller = new AbortController()
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: controller.signal,
    })
    const reader = open(response)
    await reader.read()
    const next = reader.read()
    controller.abort()
    expect(await rejection(next)).toMatchObject({ kind: 'aborted', status: 499 })
    await upstreamClosed
  })

  it('settles on abort (`settlesOnAbort`): bytes() waiting for a body that never ends rejects when the signal fires', async () => {
    const { url } = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.write('{"partial":')
    })
    const controller = new AbortController()
    const made = transport()
    expect(made.settlesOnAbort).toBe(true)
    const response = await made.request({
      url,
      method: 'GET',
      headers: {},
      signal: controller.signal,
    })
    const whole = response.bytes!()
    setTimeout(() => controller.abort(), 20)
    expect(await rejection(whole)).toMatchObject({ kind: 'aborted', status: 499 })
  })

  it('answers a read with everything that has arrived, as one chunk (events written together)', async () => {
    const { url } = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write('data: 1\n\n')
      response.write('data: 2\n\n')
      response.end('data: [DONE]\n\n')
    })
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    const reader = open(response)
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).toBe('data: 1\n\ndata: 2\n\ndata: [DONE]\n\n')
    expect(await reader.read()).toEqual({ done: true, value: undefined })
  })

  it('stops reading from the upstream socket while the body goes unread, and resumes on read', async () => {
    const upstream = await startFloodingServer()
    const { url, piece } = upstream
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    await new Promise((resolve) => setTimeout(resolve, 200))
    // 4 MiB were offered; unread, the client holds a few hundred KiB at most (its queue, the socket buffers).
    expect(upstream.finished()).toBe(false)
    expect(upstream.written()).toBeLessThan(64 * piece.length)
    const reader = open(response)
    let received = 0
    for (let step = await reader.read(); !step.done; step = await reader.read())
      received += step.value.byteLength
    expect(received).toBe(64 * piece.length)
    expect(upstream.finished()).toBe(true)
  })

  it('rejects with a connection error when the upstream drops mid-body', async () => {
    const { url } = await startServer(partialThenDrop(20))
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    expect(await rejection(readAllText(open(response)))).toMatchObject({
      kind: 'connection',
      status: 502,
    })
  })

  it('releases the connection on cancel: sequential cancels never exhaust a 1-socket pool', async () => {
    let opened = 0
    const { url } = await startServer((_request, response) => {
      opened += 1
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write('data: first\n\n')
    })
    const pool = transport({ connections: 1 })
    for (let index = 0; index < 25; index += 1) {
      const response = await pool.request({ url, method: 'GET', headers: {}, signal: signal() })
      const reader = open(response)
      expect((await reader.read()).done).toBe(false)
      await reader.cancel()
      expect(await reader.read()).toEqual({ done: true, value: undefined })
    }
    expect(opened).toBe(25)
  })
})

describe('createNodeTransport: the body piped', () => {
  it('stops reading from the upstream socket while the sink has asked for a pause, and resumes when it resumes', async () => {
    const upstream = await startFloodingServer()
    const { url, piece } = upstream
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    let received = 0
    let writes = 0
    let accepting = false
    let closed: () => void = () => {}
    const ended = new Promise<void>((resolve) => (closed = resolve))
    const control = response.reader!().pipe!({
      write: (chunk) => {
        writes += 1
        received += chunk.byteLength
        return accepting
      },
      close: () => closed(),
      error: (error) => {
        throw error
      },
    })
    await new Promise((resolve) => setTimeout(resolve, 200))
    // The first write was refused: 4 MiB were offered, and the sink got one batch of what had arrived.
    expect(writes).toBe(1)
    expect(upstream.finished()).toBe(false)
    expect(upstream.written()).toBeLessThan(64 * piece.length)
    accepting = true
    control.resume()
    await ended
    expect(received).toBe(64 * piece.length)
    expect(upstream.finished()).toBe(true)
  })

  it('gives the sink the pieces of one socket read as one write', async () => {
    let sendRest: () => void = () => {}
    const { url } = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write('data: 1\n\n')
      sendRest = () => {
        response.cork()
        response.write('data: 2\n\n')
        response.write('data: 3\n\n')
        response.end('data: [DONE]\n\n')
        response.uncork()
      }
    })
    const response = await transport().request({
      url,
      method: 'GET',
      headers: {},
      signal: signal(),
    })
    const writes: string[] = []
    let closed: () => void = () => {}
    const ended = new Promise<void>((resolve) => (closed = resolve))
    response.reader!().pipe!({
      write: (chunk) => {
        writes.push(new TextDecoder().decode(chunk))
        if (writes.length === 1) sendRest()
        return true
      },
      close: () => closed(),
      error: (error) => {
        throw error
      },
    })
    await ended
    expect(writes).toEqual(['data: 1\n\n', 'data: 2\n\ndata: 3\n\ndata: [DONE]\n\n'])
  })
})

describe('createNodeTransport: the pool', () => {
  const waitUntil = async (condition: () => boolean, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  /**
   * A server that answers after `delayMs` and counts the connections it accepts, how many were open at once, and how
   * long each had been idle when it closed.
   */
  const startCountingServer = async (options: { delayMs: number; keepAliveTimeoutMs?: number }) => {
    const counts = { accepted: 0, open: 0, mostOpen: 0, closedAfterMs: [] as number[] }
    const { url, server } = await startServer((_request, response) => {
      setTimeout(() => response.end('ok'), options.delayMs)
    })
    if (options.keepAliveTimeoutMs !== undefined)
      server.keepAliveTimeout = options.keepAliveTimeoutMs
    server.on('connection', (socket: Socket) => {
      counts.accepted += 1
      counts.open += 1
      counts.mostOpen = Math.max(counts.mostOpen, counts.open)
      let lastActivity = Date.now()
      socket.on('data', () => (lastActivity = Date.now()))
      socket.on('close', () => {
        counts.open -= 1
        counts.closedAfterMs.push(Date.now() - lastActivity)
      })
    })
    return { url, counts }
  }

  const get = async (pool: NodeTransport, url: string): Promise<string> => {
    const response = await pool.request({ url, method: 'GET', headers: {}, signal: signal() })
    return readBody(response.body)
  }

  it('never opens more than `connections` sockets to an origin: 10 concurrent requests over 2, all answered', async () => {
    const { url, counts } = await startCountingServer({ delayMs: 100 })
    const pool = transport({ connections: 2 })
    const bodies = await Promise.all(Array.from({ length: 10 }, () => get(pool, url)))
    expect(bodies).toEqual(Array.from({ length: 10 }, () => 'ok'))
    expect(counts.accepted).toBe(2)
    expect(counts.mostOpen).toBe(2)
  })

  it('opens a connection per request with pipelining 0 (keep-alive off)', async () => {
    const { url, counts } = await startCountingServer({ delayMs: 0 })
    const pool = transport({ pipelining: 0 })
    for (let index = 0; index < 3; index += 1) expect(await get(pool, url)).toBe('ok')
    expect(counts.accepted).toBe(3)
  })

  it('closes an idle connection after keepAliveTimeoutMs when the server sends no keep-alive hint', async () => {
    // keepAliveTimeout 0: Node sends no `keep-alive: timeout=` hint and never closes an idle socket itself.
    const { url, counts } = await startCountingServer({ delayMs: 0, keepAliveTimeoutMs: 0 })
    const pool = transport({ keepAliveTimeoutMs: 300 })
    expect(await get(pool, url)).toBe('ok')
    await waitUntil(() => counts.closedAfterMs.length === 1, 3_000)
    // undici checks idle sockets on a coarse timer: well under its 4 s default, not to the millisecond.
    expect(counts.closedAfterMs[0]).toBeGreaterThanOrEqual(250)
  })

  it("caps a server's keep-alive hint at keepAliveMaxTimeoutMs", async () => {
    // Node's server hints `keep-alive: timeout=5` and would keep the socket 5 s; undici would keep it 4 s.
    const { url, counts } = await startCountingServer({ delayMs: 0 })
    const pool = transport({ keepAliveMaxTimeoutMs: 300 })
    expect(await get(pool, url)).toBe('ok')
    await waitUntil(() => counts.closedAfterMs.length === 1, 3_000)
    expect(counts.closedAfterMs[0]).toBeGreaterThanOrEqual(250)
  })
})

describe('releaseRawHeaders', () => {
  it("drops the header lines undici's controller keeps for the exchange (the field this version of undici has)", async () => {
    const { url } = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'x-one': 'a', 'x-two': 'b' })
      response.end('data: {}\n\n')
    })
    const agent = new Agent()
    cleanups.push(() => agent.close())
    const seen = await new Promise<{ before: unknown; after: unknown }>((resolve, reject) => {
      agent.dispatch(
        { origin: url, path: '/', method: 'GET' },
        {
          onRequestStart() {},
          onResponseStart(controller) {
            const held = controller as { rawHeaders?: unknown }
            const before = held.rawHeaders
            releaseRawHeaders(controller)
            resolve({ before, after: held.rawHeaders })
          },
          onResponseData() {},
          onResponseEnd() {},
          onResponseError(_controller, error) {
            reject(error)
          },
        }
      )
    })
    // The lines are there to release (an undici that stops keeping them, or renames the field, fails here) ...
    expect(Array.isArray(seen.before)).toBe(true)
    expect((seen.before as Buffer[]).map(String)).toContain('x-one')
    // ... and are gone afterwards.
    expect(seen.after).toBeNull()
  })

  it('leaves a controller without the field as it is', () => {
    const controller = { pause() {}, resume() {} }
    releaseRawHeaders(controller as never)
    expect(controller).not.toHaveProperty('rawHeaders')
  })
})
