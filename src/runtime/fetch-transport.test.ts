import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { createFetchTransport } from './fetch-transport.ts'

type Seen = { method: string; url: string; headers: IncomingMessage['headers']; body: string }

const seen: Seen[] = []
let streamClosed: Promise<void> = Promise.resolve()
let server: Server
let origin: string

const routes: Record<string, (request: IncomingMessage, response: ServerResponse) => void> = {
  '/echo': (_request, response) => {
    response.writeHead(201, {
      'content-type': 'application/json',
      'x-ratelimit-remaining-requests': '41',
    })
    response.end(JSON.stringify({ ok: true }))
  },
  '/no-content': (_request, response) => {
    response.writeHead(204)
    response.end()
  },
  '/fails': (_request, response) => {
    response.writeHead(503, { 'retry-after': '2' })
    response.end('{"error":{"message":"overloaded"}}')
  },
  '/moved': (_request, response) => {
    response.writeHead(307, { location: `${origin}/echo` })
    response.end()
  },
  '/slow': () => {},
  '/breaks': (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
    response.write('{"id":"chatcmpl-1","choices":[', () => response.socket?.destroy())
  },
  '/endless': (_request, response) => {
    streamClosed = new Promise((resolve) => response.on('close', () => resolve()))
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    const timer = setInterval(() => response.write('data: {"tick":true}\n\n'), 10)
    response.on('close', () => clearInterval(timer))
  },
}

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
    request.on('end', () => {
      seen.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body,
      })
      routes[request.url ?? '']?.(request, response)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

const readText = async (body: ReadableStream<Uint8Array>): Promise<string> =>
  new Response(body).text()

describe('createFetchTransport', () => {
  const transport = createFetchTransport()

  it('sends method, headers and body, and returns status, headers and the body bytes', async () => {
    const response = await transport.request({
      url: `${origin}/echo`,
      method: 'POST',
      headers: { authorization: 'Bearer sk-upstream', 'content-type': 'application/json' },
      body: '{"model":"gpt-4o-mini"}',
      signal: new AbortController().signal,
    })
    expect(response.status).toBe(201)
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('41')
    expect(await readText(response.body)).toBe('{"ok":true}')
    const request = seen.at(-1)
    expect(request).toMatchObject({ method: 'POST', url: '/echo', body: '{"model":"gpt-4o-mini"}' })
    expect(request?.headers.authorization).toBe('Bearer sk-upstream')
    expect(request?.headers['content-length']).toBe('23')
  })

  it('sends a Uint8Array body unchanged', async () => {
    const bytes = new TextEncoder().encode('{"input":"héllo"}')
    await transport.request({
      url: `${origin}/echo`,
      method: 'POST',
      headers: {},
      body: bytes,
      signal: new AbortController().signal,
    })
    expect(seen.at(-1)?.body).toBe('{"input":"héllo"}')
  })

  it('gives an empty stream when the upstream sends no body', async () => {
    const response = await transport.request({
      url: `${origin}/no-content`,
      method: 'GET',
      headers: {},
      signal: new AbortController().signal,
    })
    expect(response.status).toBe(204)
    expect(await readText(response.body)).toBe('')
  })

  it('resolves on an error status, leaving status handling to the adapter', async () => {
    const response = await transport.request({
      url: `${origin}/fails`,
      method: 'POST',
      headers: {},
      body: '{}',
      signal: new AbortController().signal,
    })
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('2')
    expect(await readText(response.body)).toContain('overloaded')
  })

  it('returns a redirect instead of replaying the request elsewhere', async () => {
    const before = seen.length
    const response = await transport.request({
      url: `${origin}/moved`,
      method: 'POST',
      headers: {},
      body: '{}',
      signal: new AbortController().signal,
    })
    await response.body.cancel()
    expect(response.status).toBe(307)
    expect(seen.length).toBe(before + 1)
  })

  it('maps a refused connection to a retryable ProviderError of kind connection (502)', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const failure = await transport
      .request({
        url: `http://127.0.0.1:${port}/v1/chat/completions`,
        method: 'POST',
        headers: {},
        body: '{}',
        signal: new AbortController().signal,
      })
      .catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(ProviderError)
    expect(failure).toMatchObject({ kind: 'connection', status: 502, retryable: true })
    expect((failure as ProviderError).message).not.toContain('127.0.0.1')
  })

  it('rejects with the signal reason when the core aborts with a ProviderError (a timeout)', async () => {
    const controller = new AbortController()
    const timeout = new ProviderError({
      kind: 'timeout',
      message: 'No first byte within 300000 ms.',
      status: 504,
    })
    const pending = transport.request({
      url: `${origin}/slow`,
      method: 'POST',
      headers: {},
      body: '{}',
      signal: controller.signal,
    })
    setTimeout(() => controller.abort(timeout), 20)
    await expect(pending).rejects.toBe(timeout)
  })

  it('maps a client abort to a ProviderError of kind aborted (499), not a connection failure', async () => {
    const controller = new AbortController()
    const pending = transport.request({
      url: `${origin}/slow`,
      method: 'POST',
      headers: {},
      body: '{}',
      signal: controller.signal,
    })
    setTimeout(() => controller.abort(), 20)
    const failure = await pending.catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(ProviderError)
    expect(failure).toMatchObject({ kind: 'aborted', status: 499, retryable: false })
  })

  it('rejects at once when the signal is already aborted, without reaching the upstream', async () => {
    const before = seen.length
    const failure = await transport
      .request({
        url: `${origin}/echo`,
        method: 'POST',
        headers: {},
        body: '{}',
        signal: AbortSignal.abort(),
      })
      .catch((error: unknown) => error)
    expect(failure).toMatchObject({ kind: 'aborted', status: 499 })
    expect(seen.length).toBe(before)
  })

  it('types a body that breaks mid-way as a connection failure (502), as the Node transport does', async () => {
    const response = await transport.request({
      url: `${origin}/breaks`,
      method: 'POST',
      headers: {},
      body: '{}',
      signal: new AbortController().signal,
    })
    const failure = await readText(response.body).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(ProviderError)
    expect(failure).toMatchObject({ kind: 'connection', status: 502 })
  })

  it('closes the upstream connection when the body is cancelled', async () => {
    const response = await transport.request({
      url: `${origin}/endless`,
      method: 'POST',
      headers: {},
      body: '{}',
      signal: new AbortController().signal,
    })
    const reader = response.body.getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).toContain('tick')
    await reader.cancel()
    await expect(
      Promise.race([
        streamClosed.then(() => 'closed'),
        new Promise((resolve) => setTimeout(resolve, 2000, 'open')),
      ])
    ).resolves.toBe('closed')
  })

  it('uses the injected fetch when given one', async () => {
    const calls: string[] = []
    const injected = createFetchTransport({
      fetch: async (input) => {
        calls.push(String(input))
        return new Response('pong', { status: 200 })
      },
    })
    const response = await injected.request({
      url: 'https://api.example.com/v1/models',
      method: 'GET',
      headers: {},
      signal: new AbortController().signal,
    })
    expect(calls).toEqual(['https://api.example.com/v1/models'])
    expect(await readText(response.body)).toBe('pong')
  })
})
