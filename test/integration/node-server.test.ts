/**
 * The Node server as users run it: `node bin/gatehouse.js serve` as a child process (exit codes, what the terminal
 * shows, the key file, signals), plus in-process checks of `serveNode` (client disconnects, drain timeout).
 *
 * Why build instead of `node --import tsx`: the bin loads the compiled `dist/` that `npm ci` builds, and the build is
 * where `.ts` import rewriting, the build tsconfig's includes and ESM packaging can break without any unit test
 * noticing. So `beforeAll` runs the real build (`tsc -p tsconfig.build.json`) into a private, incremental output
 * directory next to a copy of the bin: a stale `dist/`, or another build writing `dist/` at the same time, cannot mix
 * in, and reruns only recompile what changed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { afterAll, afterEach, beforeAll, describe, it, expect } from 'vitest'
import { buildPrivateBin } from '../helpers/build-private-bin.ts'
import {
  gatehouseListening,
  spawnGatehouse,
  stopGatehouse,
  type GatehouseProcess,
} from '../helpers/spawn-gatehouse.ts'
import { silentLogger } from '../../src/core/logger.ts'
import { serveNode } from '../../src/runtime/serve-node.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'

const repository = fileURLToPath(new URL('../../', import.meta.url))
let bin = ''

beforeAll(() => {
  bin = buildPrivateBin({ name: 'gatehouse-node-server-test', needs: 'src/runtime/node.js' })
}, 300_000)

const running: GatehouseProcess[] = []
const temporary: string[] = []
const upstreams: MockUpstream[] = []

afterEach(async () => {
  for (const gatehouse of running.splice(0)) await stopGatehouse(gatehouse)
  for (const directory of temporary.splice(0)) rmSync(directory, { recursive: true, force: true })
})

afterAll(async () => {
  for (const upstream of upstreams.splice(0)) await upstream.close()
})

const workDirectory = (): string => {
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-node-server-'))
  temporary.push(directory)
  return directory
}

const startGatehouse = (options: {
  cwd: string
  env: Record<string, string>
  args?: string[]
}): GatehouseProcess => {
  const gatehouse = spawnGatehouse({ bin, ...options })
  running.push(gatehouse)
  return gatehouse
}

type Reply = { status: number; headers: IncomingMessage['headers']; body: string }

const send = (options: {
  url: string
  method?: string
  headers?: Record<string, string>
  body?: unknown
  agent?: Agent
}): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
    const outgoing = httpRequest(
      options.url,
      {
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (body += chunk))
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body })
        )
        response.on('error', reject)
      }
    )
    outgoing.on('error', reject)
    outgoing.end(payload)
  })

const mockUpstream = async (
  options: Parameters<typeof startMockOpenAIUpstream>[0] = {}
): Promise<MockUpstream> => {
  const upstream = await startMockOpenAIUpstream(options)
  upstreams.push(upstream)
  return upstream
}

const openAIEnv = (upstream: MockUpstream): Record<string, string> => ({
  OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
  OPENAI_BASE_URL: upstream.baseUrl,
  PORT: '0',
})

/** A streamed chat completion read as it arrives. */
const openStream = (options: { url: string; key: string }) => {
  let received = ''
  let firstChunk: () => void = () => {}
  const first = new Promise<void>((resolve) => (firstChunk = resolve))
  const done = new Promise<Reply>((resolve, reject) => {
    const outgoing = httpRequest(
      options.url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.key}` },
      },
      (response) => {
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          received += chunk
          firstChunk()
        })
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: received })
        )
        response.on('error', reject)
      }
    )
    outgoing.on('error', reject)
    outgoing.end(JSON.stringify(chatBody))
  })
  return {
    firstChunk: Promise.race([first, done.then(() => undefined)]),
    done,
    received: () => received,
  }
}

const chatBody = {
  model: 'gpt-4o-mini',
  stream: true,
  messages: [{ role: 'user', content: 'Say something long.' }],
}

describe('gatehouse serve (child process)', () => {
  it('prints its version and help', async () => {
    const version = startGatehouse({ cwd: workDirectory(), env: {}, args: ['--version'] })
    expect(await version.exited).toEqual({ code: 0, signal: null })
    expect(version.output.stdout.trim()).toBe(
      JSON.parse(readFileSync(join(repository, 'package.json'), 'utf8')).version
    )

    const help = startGatehouse({ cwd: workDirectory(), env: {}, args: ['--help'] })
    expect(await help.exited).toEqual({ code: 0, signal: null })
    expect(help.output.stdout).toMatch(/Usage: gatehouse \[command\]/)
    expect(help.output.stdout).toMatch(/serve\s+Start the gateway/)
  })

  it('exits 1 on an invalid config, listing every problem without a stack trace', async () => {
    const cwd = workDirectory()
    writeFileSync(
      join(cwd, 'gatehouse.yaml'),
      [
        'providers:',
        '  groq: { type: openai-compatible, apiKey: "${GROQ_API_KEY}" }',
        'routes:',
        '  - name: fast',
        '    targets: [{ provider: opnai, model: gpt-4o-mini }]',
        '',
      ].join('\n')
    )
    const gatehouse = startGatehouse({
      cwd,
      env: { GATEHOUSE_CONFIG: 'gatehouse.yaml', PORT: 'abc', LOG_LEVEL: 'loud' },
    })
    expect(await gatehouse.exited).toEqual({ code: 1, signal: null })
    const { stderr, stdout } = gatehouse.output
    expect(stderr).toContain(
      'env.LOG_LEVEL: expected one of debug, info, warn, error, silent, got "loud"'
    )
    expect(stderr).toContain('env.PORT: expected an integer from 0 to 65535, got "abc"')
    expect(stderr).toContain('providers.groq.apiKey: environment variable GROQ_API_KEY is not set')
    expect(stderr).not.toMatch(/^\s+at /m)
    expect(stdout).not.toContain('listening')
    expect(existsSync(join(cwd, 'data'))).toBe(false)

    writeFileSync(
      join(cwd, 'gatehouse.yaml'),
      'providers:\n  groq: { type: openai-compatible }\nroutes:\n  - name: fast\n    targets: [{ provider: opnai, model: m }]\n'
    )
    const second = startGatehouse({ cwd, env: { GATEHOUSE_CONFIG: 'gatehouse.yaml' } })
    expect(await second.exited).toEqual({ code: 1, signal: null })
    expect(second.output.stderr).toContain(
      'providers.groq.baseUrl: required for type openai-compatible'
    )
    expect(second.output.stderr).toContain(
      'routes[0].targets[0].provider: unknown provider "opnai" (configured: groq)'
    )
    expect(second.output.stderr).not.toMatch(/^\s+at /m)
  })

  it('exits 1 when the config file cannot be read', async () => {
    const gatehouse = startGatehouse({
      cwd: workDirectory(),
      env: {},
      args: ['serve', '--config', 'missing.yaml'],
    })
    expect(await gatehouse.exited).toEqual({ code: 1, signal: null })
    expect(gatehouse.output.stderr).toMatch(
      /env\.GATEHOUSE_CONFIG: cannot read .*missing\.yaml \(ENOENT\)/
    )
  })

  it('exits 1 when the port is taken, without keeping a key it never showed', async () => {
    const taken = await serveNode({
      fetch: () => new Response('ok'),
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
    })
    const cwd = workDirectory()
    const gatehouse = startGatehouse({ cwd, env: { PORT: String(taken.port) } })
    const exit = await gatehouse.exited
    taken.server.close()
    expect(exit).toEqual({ code: 1, signal: null })
    expect(gatehouse.output.stderr).toContain(
      `server: cannot listen on 127.0.0.1:${taken.port} (EADDRINUSE`
    )
    expect(gatehouse.output.stderr).not.toMatch(/^\s+at /m)
    expect(existsSync(join(cwd, 'data', 'master-key'))).toBe(false)
  })

  it('exits 1 with the start-up message, not a stack, when HOST does not resolve', async () => {
    const gatehouse = startGatehouse({
      cwd: workDirectory(),
      env: { HOST: 'no-such-host.invalid' },
    })
    expect(await gatehouse.exited).toEqual({ code: 1, signal: null })
    expect(gatehouse.output.stderr).toMatch(
      /server: cannot listen on no-such-host\.invalid:\d+ \((ENOTFOUND|EAI_AGAIN)/
    )
    expect(gatehouse.output.stderr).not.toMatch(/^\s+at /m)
  })

  it('generates a master key once, stores it with mode 0600, reuses it after a restart, and requires it', async () => {
    const upstream = await mockUpstream()
    const cwd = workDirectory()
    const first = startGatehouse({ cwd, env: openAIEnv(upstream) })
    const url = await gatehouseListening(first)
    const file = join(cwd, 'data', 'master-key')
    const key = readFileSync(file, 'utf8').trim()
    expect(key).toMatch(/^gh-[A-Za-z0-9_-]{43}$/)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(first.output.stdout.split(key).length - 1).toBe(1)

    expect((await send({ url: `${url}/v1/models` })).status).toBe(401)
    expect(
      (await send({ url: `${url}/v1/models`, headers: { authorization: 'Bearer gh-wrong' } }))
        .status
    ).toBe(401)
    expect(
      (await send({ url: `${url}/v1/models`, headers: { authorization: `Bearer ${key}` } })).status
    ).toBe(200)
    expect((await send({ url: `${url}/v1/models`, headers: { 'x-api-key': key } })).status).toBe(
      200
    )
    expect((await send({ url: `${url}/healthz` })).status).toBe(200)

    first.child.kill('SIGTERM')
    expect(await first.exited).toEqual({ code: 0, signal: null })

    const second = startGatehouse({ cwd, env: openAIEnv(upstream) })
    const secondUrl = await gatehouseListening(second)
    expect(second.output.stdout).not.toContain(key)
    expect(second.output.stdout).toContain(`Master key: read from ${file}`)
    expect(
      (await send({ url: `${secondUrl}/v1/models`, headers: { authorization: `Bearer ${key}` } }))
        .status
    ).toBe(200)
    second.child.kill('SIGINT')
    expect(await second.exited).toEqual({ code: 0, signal: null })
    expect(second.output.stdout).not.toContain(key)
  })

  it('on SIGTERM finishes the in-flight stream, answers /readyz 503, refuses new connections, and exits 0', async () => {
    const upstream = await mockUpstream({ streamChunks: 8, chunkDelayMs: 150 })
    const gatehouse = startGatehouse({
      cwd: workDirectory(),
      env: { ...openAIEnv(upstream), GATEHOUSE_MASTER_KEY: 'gh-test-key' },
    })
    const url = await gatehouseListening(gatehouse)

    const pooled = new Agent({ keepAlive: true, maxSockets: 1 })
    const ready = await send({ url: `${url}/readyz`, agent: pooled })
    expect(ready.status).toBe(200)

    const stream = openStream({ url: `${url}/v1/chat/completions`, key: 'gh-test-key' })
    await stream.firstChunk

    gatehouse.child.kill('SIGTERM')
    await gatehouse.waitForStdout(/"msg":"draining/)

    const draining = await send({ url: `${url}/readyz`, agent: pooled })
    expect(draining.status).toBe(503)
    expect(draining.headers.connection).toBe('close')
    await expect(send({ url: `${url}/healthz` })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    expect(stream.received()).not.toContain('[DONE]')

    const completed = await stream.done
    expect(completed.status).toBe(200)
    expect(completed.body.trimEnd().endsWith('data: [DONE]')).toBe(true)
    expect(await gatehouse.exited).toEqual({ code: 0, signal: null })
    expect(gatehouse.output.stdout).toContain('"msg":"shutdown complete"')
    pooled.destroy()
  })

  it('aborts the upstream request when the client disconnects mid-stream', async () => {
    const upstream = await mockUpstream({ streamChunks: 40, chunkDelayMs: 100 })
    const gatehouse = startGatehouse({
      cwd: workDirectory(),
      env: { ...openAIEnv(upstream), GATEHOUSE_MASTER_KEY: 'gh-test-key' },
    })
    const url = await gatehouseListening(gatehouse)
    await new Promise<void>((resolve, reject) => {
      const outgoing = httpRequest(
        `${url}/v1/chat/completions`,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', authorization: 'Bearer gh-test-key' },
        },
        (response) => response.once('data', () => (outgoing.destroy(), resolve()))
      )
      outgoing.on('error', (error) => (outgoing.destroyed ? undefined : reject(error)))
      outgoing.end(JSON.stringify(chatBody))
    })
    const chat = upstream.requests.find((request) => request.path === '/v1/chat/completions')
    expect(chat).toBeDefined()
    expect(await chat?.settled).toBe('aborted')
  })

  it('aborts the upstream request when the client disconnects while the gateway waits for the first byte', async () => {
    const upstream = await mockUpstream()
    upstream.enqueue({ delayFirstByteMs: 5_000 })
    const gatehouse = startGatehouse({
      cwd: workDirectory(),
      env: { ...openAIEnv(upstream), GATEHOUSE_MASTER_KEY: 'gh-test-key' },
    })
    const url = await gatehouseListening(gatehouse)
    const outgoing = httpRequest(`${url}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', authorization: 'Bearer gh-test-key' },
    })
    outgoing.on('error', () => {})
    outgoing.end(JSON.stringify({ ...chatBody, stream: false }))
    const deadline = Date.now() + 3_000
    while (
      !upstream.requests.some((request) => request.path === '/v1/chat/completions') &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    outgoing.destroy()
    const chat = upstream.requests.find((request) => request.path === '/v1/chat/completions')
    expect(chat).toBeDefined()
    expect(await chat?.settled).toBe('aborted')
  })
})

describe('serveNode (in process)', () => {
  const serving: { close: () => void }[] = []
  afterEach(() => {
    for (const server of serving.splice(0)) server.close()
  })

  it("aborts the request's signal when the client goes away mid-stream", async () => {
    let aborted: () => void = () => {}
    const abortSeen = new Promise<void>((resolve) => (aborted = resolve))
    const app = new Hono()
    app.get('/stream', (c) => {
      c.req.raw.signal.addEventListener('abort', () => aborted())
      return streamSSE(c, async (stream) => {
        await stream.writeSSE({ data: 'first' })
        await new Promise((resolve) => c.req.raw.signal.addEventListener('abort', resolve))
      })
    })
    const node = await serveNode({
      fetch: app.fetch,
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
    })
    serving.push({ close: () => node.server.close() })
    await new Promise<void>((resolve, reject) => {
      const outgoing = httpRequest(
        `http://127.0.0.1:${node.port}/stream`,
        { agent: false },
        (response) => response.once('data', () => (outgoing.destroy(), resolve()))
      )
      outgoing.on('error', (error) => (outgoing.destroyed ? undefined : reject(error)))
      outgoing.end()
    })
    await abortSeen
  })

  it('closes requests still running when the drain timeout passes', async () => {
    const app = new Hono()
    app.get('/forever', (c) =>
      streamSSE(c, async (stream) => {
        await stream.writeSSE({ data: 'first' })
        await new Promise((resolve) => c.req.raw.signal.addEventListener('abort', resolve))
      })
    )
    const node = await serveNode({
      fetch: app.fetch,
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
    })
    const clientClosed = new Promise<void>((resolve) => {
      httpRequest(`http://127.0.0.1:${node.port}/forever`, { agent: false }, (response) => {
        response.on('close', () => resolve())
        response.resume()
      }).end()
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    expect(await node.drain(300)).toEqual({ unfinished: 1 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    await clientClosed
  })

  it('reports a port already in use as a start-up problem', async () => {
    const first = await serveNode({
      fetch: () => new Response('ok'),
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
    })
    serving.push({ close: () => first.server.close() })
    await expect(
      serveNode({
        fetch: () => new Response('ok'),
        host: '127.0.0.1',
        port: first.port,
        logger: silentLogger,
      })
    ).rejects.toMatchObject({
      name: 'StartupError',
      errors: [expect.stringContaining('EADDRINUSE')],
    })
  })
})
