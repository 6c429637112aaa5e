import { ServerResponse, get } from 'node:http'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { describe, expect, it, vi } from 'vitest'
import type { BodySource } from '../api/response-body.ts'
import { nodeStreamBody } from './node-stream-body.ts'

const encoder = new TextEncoder()

const sourceOf = (pieces: string[]): BodySource & { cancelled: unknown[] } => {
  const queue = pieces.map((piece) => encoder.encode(piece))
  const cancelled: unknown[] = []
  return {
    cancelled,
    pull: async () => queue.shift() ?? null,
    cancel: async (reason) => {
      cancelled.push(reason)
    },
  }
}

type Reader = {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>
  cancel(reason?: unknown): Promise<void>
  closed: Promise<void>
}

describe('nodeStreamBody', () => {
  it('reads piece by piece through getReader, then done; closed resolves at the end', async () => {
    const body = nodeStreamBody(sourceOf(['data: 1\n\n', 'data: 2\n\n']))
    expect(body.locked).toBe(false)
    const reader = body.getReader() as unknown as Reader
    expect(body.locked).toBe(true)
    expect(() => body.getReader()).toThrow(TypeError)
    const texts: string[] = []
    for (let step = await reader.read(); !step.done; step = await reader.read())
      texts.push(new TextDecoder().decode(step.value))
    expect(texts).toEqual(['data: 1\n\n', 'data: 2\n\n'])
    await reader.closed
    expect(await reader.read()).toEqual({ done: true, value: undefined })
  })

  it('cancels the source once when the reader is cancelled (the client went away), and reads nothing after', async () => {
    const source = sourceOf(['a', 'b', 'c'])
    const reader = nodeStreamBody(source).getReader() as unknown as Reader
    await reader.read()
    const reason = new Error('client closed')
    await reader.cancel(reason)
    await reader.cancel(reason)
    await reader.closed
    expect(source.cancelled).toEqual([reason])
    expect(await reader.read()).toEqual({ done: true, value: undefined })
  })

  it("becomes a real Response body when something asks for one (Node's Response takes an async iterable)", async () => {
    const body = nodeStreamBody(sourceOf(['{"a":', '1}']))
    expect(await new Response(body).json()).toEqual({ a: 1 })
  })

  it('cancels the source when an iteration stops early', async () => {
    const source = sourceOf(['a', 'b', 'c'])
    for await (const piece of nodeStreamBody(source) as unknown as AsyncIterable<Uint8Array>) {
      expect(new TextDecoder().decode(piece)).toBe('a')
      break
    }
    expect(source.cancelled).toHaveLength(1)
  })
})

/**
 * A source that can be piped, producing `count` pieces of `size` bytes, one per macrotask, and holding while its
 * sink asks for a pause. It records how it was used.
 */
const pipedSourceOf = (count: number, size: number) => {
  const record = { pulls: 0, pauses: 0, written: 0, cancelled: [] as unknown[], closed: false }
  let stopped = false
  const source: BodySource = {
    pull: async () => {
      record.pulls += 1
      return null
    },
    cancel: async (reason) => {
      stopped = true
      record.cancelled.push(reason)
    },
    pipe(sink) {
      let paused = false
      const next = (): void => {
        if (stopped || paused) return
        if (record.written === count) {
          record.closed = true
          sink.close()
          return
        }
        record.written += 1
        if (!sink.write(new Uint8Array(size).fill(0x61))) {
          paused = true
          record.pauses += 1
          return
        }
        setImmediate(next)
      }
      setImmediate(next)
      return {
        resume: () => {
          if (!paused) return
          paused = false
          setImmediate(next)
        },
      }
    },
  }
  return { source, record }
}

/**
 * A server whose every response streams `source` through `nodeStreamBody` (a function: a new source for each
 * request).
 */
const serve = async (
  source: BodySource | (() => BodySource),
  headers: Record<string, string> = {}
) => {
  const server = createAdaptorServer({
    fetch: (_request: Request, env: unknown) =>
      new Response(nodeStreamBody(typeof source === 'function' ? source() : source, env), {
        headers: { 'content-type': 'application/octet-stream', ...headers },
      }),
  }) as Server
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    port,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('nodeStreamBody, piped to the connection through @hono/node-server', () => {
  it('writes every piece to the connection and ends the response, never pulling', async () => {
    const { source, record } = pipedSourceOf(50, 1_000)
    const server = await serve(source)
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/`)
      expect((await response.arrayBuffer()).byteLength).toBe(50_000)
      expect(record).toMatchObject({ pulls: 0, written: 50, closed: true, cancelled: [] })
    } finally {
      await server.close()
    }
  })

  // 16 MiB on offer either way: pieces over 16 KiB go through `ServerResponse#write`, smaller ones are framed and
  // written to the socket by the carrier itself; both must stop while the client does not read, and resume on drain.
  it.each([
    { pieces: 256, size: 64 * 1024, through: 'ServerResponse#write' },
    { pieces: 2_048, size: 8 * 1024, through: 'the framed socket write' },
  ])(
    'pauses the source while the client does not read, and resumes it when the client does ($through)',
    async ({ pieces, size }) => {
      const { source, record } = pipedSourceOf(pieces, size)
      const server = await serve(source)
      try {
        const received = await new Promise<number>((resolve, reject) => {
          get({ host: '127.0.0.1', port: server.port, path: '/' }, (response) => {
            response.pause()
            setTimeout(() => {
              // With the client not reading, the source has stopped well short of what was on offer.
              expect(record.pauses).toBeGreaterThan(0)
              expect(record.written).toBeLessThan(pieces / 2)
              let bytes = 0
              response.on('data', (chunk: Buffer) => (bytes += chunk.byteLength))
              response.on('end', () => resolve(bytes))
              response.resume()
            }, 300)
          }).on('error', reject)
        })
        expect(received).toBe(pieces * size)
        expect(record.closed).toBe(true)
      } finally {
        await server.close()
      }
    }
  )

  it('cancels the source once when the client goes away mid-body', async () => {
    const { source, record } = pipedSourceOf(100_000, 1_000)
    const server = await serve(source)
    try {
      await new Promise<void>((resolve, reject) => {
        const request = get({ host: '127.0.0.1', port: server.port, path: '/' }, (response) => {
          response.once('data', () => {
            request.destroy()
            resolve()
          })
        })
        request.on('error', () => {})
        setTimeout(() => reject(new Error('no data')), 5_000)
      })
      await vi.waitFor(() => expect(record.cancelled).toHaveLength(1))
      expect(record.closed).toBe(false)
    } finally {
      await server.close()
    }
  })

  it('cancels a source the library never read, when writing the head failed and the connection closed', async () => {
    // A header value Node refuses (a character past U+00FF; the Web `Headers` take it): @hono/node-server answers
    // 500 and destroys the connection without a look at the body.
    const { source, record } = pipedSourceOf(10, 100)
    const server = await serve(source, { 'x-refused': 'gpt-\u0151' })
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const status = await fetch(`http://127.0.0.1:${server.port}/`).then(
        async (response) => {
          await response.arrayBuffer().catch(() => {})
          return response.status
        },
        () => 'reset'
      )
      expect([500, 'reset']).toContain(status)
      await vi.waitFor(() => expect(record.cancelled).toHaveLength(1))
      expect(record.written).toBe(0)
    } finally {
      logged.mockRestore()
      await server.close()
    }
  })
})

/** Writes `requests` to a raw connection and reads until `done` says the bytes so far are complete. */
const rawExchange = (
  port: number,
  requests: string,
  done: (received: string) => boolean
): Promise<string> =>
  new Promise((resolve, reject) => {
    let received = ''
    const socket = connect(port, '127.0.0.1', () => socket.write(requests))
    socket.setEncoding('latin1')
    socket.on('data', (text: string) => {
      received += text
      if (done(received)) {
        socket.destroy()
        resolve(received)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`closed after ${JSON.stringify(received)}`)))
  })

/** The pieces of a chunked body, each chunk's declared length checked against what follows it. */
const readChunked = (body: string): { pieces: string[]; rest: string } => {
  const pieces: string[] = []
  let at = 0
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at)
    const length = Number.parseInt(body.slice(at, lineEnd), 16)
    expect(body.slice(at, lineEnd)).toMatch(/^[0-9a-f]+$/)
    const start = lineEnd + 2
    expect(body.slice(start + length, start + length + 2)).toBe('\r\n')
    at = start + length + 2
    if (length === 0) return { pieces, rest: body.slice(at) }
    pieces.push(body.slice(start, start + length))
  }
}

describe('nodeStreamBody, each piece framed and written to the connection itself', () => {
  /** A piped source of the given pieces, one per macrotask. */
  const piecesSource = (pieces: string[]): BodySource => ({
    pull: async () => null,
    cancel: async () => {},
    pipe(sink) {
      let index = 0
      const next = (): void => {
        if (index === pieces.length) return sink.close()
        sink.write(encoder.encode(pieces[index]))
        index += 1
        setImmediate(next)
      }
      setImmediate(next)
      return { resume: () => {} }
    },
  })
  const request = 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n'
  const headEnd = (text: string, from = 0) => text.indexOf('\r\n\r\n', from) + 4

  it('frames every piece as one chunk of its exact length, ends the body, and keeps the connection for the next request', async () => {
    // Lengths that need one, two and three hex digits, and a multi-byte character (bytes, not characters, counted).
    // An empty piece among them: framed, it would be the chunk that ends the body.
    const pieces = [
      'data: a\n\n',
      'x'.repeat(255),
      '',
      'y'.repeat(256),
      'é'.repeat(2000),
      'data: [DONE]\n\n',
    ]
    const server = await serve(() => piecesSource(pieces), { 'content-type': 'text/event-stream' })
    const writes = vi.spyOn(ServerResponse.prototype, 'write')
    try {
      // Two requests one after the other on one connection: the second is answered whole only if the first body
      // ended where its framing said.
      const first = await rawExchange(server.port, request, (text) =>
        text.endsWith('\r\n0\r\n\r\n')
      )
      expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
      expect(first.toLowerCase()).toContain('transfer-encoding: chunked')
      const { pieces: received, rest } = readChunked(first.slice(headEnd(first)))
      expect(Buffer.from(received.join(''), 'latin1').toString()).toBe(pieces.join(''))
      expect(rest).toBe('')
      // The first piece goes with the head through `ServerResponse#write`; the rest straight to the connection.
      expect(writes.mock.calls.length).toBeLessThanOrEqual(1)

      let answered = 0
      const both = await rawExchange(server.port, request + request, (text) => {
        answered = text.split('\r\n0\r\n\r\n').length - 1
        return answered === 2
      })
      const second = both.slice(both.indexOf('\r\n0\r\n\r\n') + 7)
      expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
      // A pipelined response waits its turn in Node's own queue, then goes on as the first did.
      for (const response of [both, second]) {
        const body = readChunked(response.slice(headEnd(response))).pieces.join('')
        expect(Buffer.from(body, 'latin1').toString()).toBe(pieces.join(''))
      }
    } finally {
      writes.mockRestore()
      await server.close()
    }
  })
})
