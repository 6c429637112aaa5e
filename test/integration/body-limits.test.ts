/**
 * Request bodies over the limit, end to end on the real Node server: the client reads its 413, in its dialect, even
 * while it is still sending (a reset connection instead was the bug), and the gateway reads away no more of an
 * unwanted body than `serveNode`'s bounds allow.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import type { ClientRequest } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/core/logger.ts'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'
import { serveNode } from '../../src/runtime/serve-node.ts'

const masterKey = 'test-master-key'
const mebibyte = 1024 * 1024

type Outcome = {
  status: number | null
  body: unknown
  /** The socket error the client saw (EPIPE, ECONNRESET), if any. */
  error: string | null
  /** The request finished: every byte of the body was handed to the socket (with no error, taken by the server). */
  sent: boolean
  reusedSocket: boolean
}

/**
 * POSTs `body` with `node:http`, writing all of it whatever the server answers (as clients that write before they
 * read do), and settles once both the response and the request are over.
 */
const postWhole = (options: {
  url: string
  path: string
  body: Uint8Array
  chunked?: boolean
  agent?: Agent | false
}): Promise<Outcome> =>
  new Promise((resolve) => {
    const outcome: Outcome = {
      status: null,
      body: undefined,
      error: null,
      sent: false,
      reusedSocket: false,
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${masterKey}`,
      'content-type': 'application/json',
    }
    if (options.chunked !== true) headers['content-length'] = String(options.body.byteLength)
    let pending = 2
    const settle = (): void => {
      pending -= 1
      if (pending === 0) resolve(outcome)
    }
    const request: ClientRequest = httpRequest(
      `${options.url}${options.path}`,
      { method: 'POST', headers, agent: options.agent ?? false },
      (response) => {
        outcome.status = response.statusCode ?? null
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          outcome.body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          settle()
        })
      }
    )
    request.on('error', (error: NodeJS.ErrnoException) => {
      outcome.error = error.code ?? error.message
      if (outcome.status === null) settle()
    })
    request.on('finish', () => (outcome.sent = true))
    request.on('close', () => {
      outcome.reusedSocket = request.reusedSocket
      settle()
    })
    if (options.chunked === true) {
      for (let offset = 0; offset < options.body.byteLength; offset += mebibyte) {
        request.write(options.body.subarray(offset, offset + mebibyte))
      }
      request.end()
    } else {
      request.end(options.body)
    }
  })

/** A body of `bytes` bytes that starts as a plausible chat request. */
const oversizedBody = (bytes: number): Uint8Array => {
  const body = Buffer.alloc(bytes, 'x')
  body.write('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"')
  return body
}

const openAITooLarge = {
  error: {
    message: expect.stringContaining('larger than'),
    type: 'invalid_request_error',
    param: null,
    code: 'request_too_large',
  },
}
const anthropicTooLarge = {
  type: 'error',
  error: { type: 'request_too_large', message: expect.stringContaining('larger than') },
  request_id: expect.any(String),
}

describe('a body over server.bodyLimitBytes (default 32 MiB) on the real Node server', () => {
  let server: NodeServer
  const body = oversizedBody(40 * mebibyte)

  beforeAll(async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-body-limits-'))
    writeFileSync(join(cwd, 'gatehouse.yaml'), `auth: { masterKey: ${masterKey} }\n`)
    server = await startNodeServer({
      env: { GATEHOUSE_CONFIG: 'gatehouse.yaml', PORT: '0', LOG_LEVEL: 'error' },
      cwd,
      stdout: () => {},
    })
  })

  afterAll(async () => {
    await server?.close()
  })

  // Chunked bodies go through hono's `bodyLimit` and Web streams, 32 MiB each time: fewer rounds keep the suite fast.
  for (const { chunked, rounds } of [
    { chunked: false, rounds: 20 },
    { chunked: true, rounds: 5 },
  ]) {
    it(`answers ${rounds} uploads of 40 MiB in a row per dialect with a 413 each client reads, never a reset (${chunked ? 'chunked' : 'content-length'})`, async () => {
      for (let round = 0; round < rounds; round++) {
        for (const [path, shape] of [
          ['/v1/chat/completions', openAITooLarge],
          ['/v1/messages', anthropicTooLarge],
        ] as const) {
          const outcome = await postWhole({ url: server.url, path, body, chunked })
          expect({ round, path, ...outcome }).toEqual({
            round,
            path,
            status: 413,
            body: shape,
            error: null,
            sent: true,
            reusedSocket: false,
          })
        }
      }
    }, 120_000)
  }

  it('keeps a keep-alive connection usable once the rejected body has been read away', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const rejected = await postWhole({
        url: server.url,
        path: '/v1/chat/completions',
        body,
        agent,
      })
      expect(rejected).toMatchObject({ status: 413, error: null, sent: true })
      const next = await postWhole({
        url: server.url,
        path: '/v1/messages',
        body: oversizedBody(33 * mebibyte),
        agent,
      })
      expect(next).toMatchObject({
        status: 413,
        body: anthropicTooLarge,
        error: null,
        sent: true,
        reusedSocket: true,
      })
    } finally {
      agent.destroy()
    }
  }, 60_000)
})

describe('serveNode: reading away a body the response left unread', () => {
  const rejectAll = (): Response =>
    new Response('{"rejected":true}', {
      status: 413,
      headers: { 'content-type': 'application/json' },
    })

  it('stops reading past discardBody.maxBytes: the socket is closed on a client that keeps sending', async () => {
    const node = await serveNode({
      fetch: rejectAll,
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      discardBody: { maxBytes: 1 * mebibyte, maxMs: 30_000 },
    })
    let received = 0
    node.server.on('connection', (socket) =>
      socket.on('data', (chunk: Buffer) => (received += chunk.byteLength))
    )
    try {
      const outcome = await postWhole({
        url: `http://127.0.0.1:${node.port}`,
        path: '/',
        body: oversizedBody(128 * mebibyte),
      })
      expect(outcome.error).toMatch(/^(EPIPE|ECONNRESET)$/)
      // The limit, plus what arrives between two checks and sits in socket buffers: far from the 128 MiB sent.
      expect(received).toBeLessThan(64 * mebibyte)
    } finally {
      await node.drain(0)
    }
  }, 30_000)

  it('stops waiting past discardBody.maxMs on a client that stalls mid-body', async () => {
    const node = await serveNode({
      fetch: rejectAll,
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      discardBody: { maxBytes: 64 * mebibyte, maxMs: 300 },
    })
    try {
      // A raw socket: Node's client closes by itself once it has a complete `connection: close` answer.
      const closed = await new Promise<{ answer: string; afterMs: number }>((resolve) => {
        let answer = ''
        let answeredAt = 0
        const socket = connect(node.port, '127.0.0.1')
        socket.on('data', (chunk: Buffer) => {
          answer += chunk.toString('latin1')
          answeredAt ||= Date.now()
        })
        socket.on('error', () => {})
        socket.on('close', () => resolve({ answer, afterMs: Date.now() - answeredAt }))
        socket.write(`POST / HTTP/1.1\r\nhost: gatehouse\r\ncontent-length: ${mebibyte}\r\n\r\n`)
        socket.write(Buffer.alloc(1024))
      })
      expect(closed.answer).toMatch(/^HTTP\/1\.1 413 /)
      expect(closed.afterMs).toBeGreaterThanOrEqual(250)
      expect(closed.afterMs).toBeLessThan(10_000)
    } finally {
      await node.drain(0)
    }
  }, 30_000)
})
