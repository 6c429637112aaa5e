/**
 * The gateway as it runs on Cloudflare Workers: `wrangler dev` bundles src/runtime/workers.ts with esbuild and runs it
 * in workerd (no Node APIs, no `nodejs_compat`), in front of a local mock OpenAI upstream, driven by the official
 * `openai` client. A Node-only import anywhere on the bundle path fails this file.
 *
 * One behaviour cannot be seen through `wrangler dev`: a client that leaves before the first byte. wrangler dev puts a
 * proxy Worker in front of the user Worker, and that proxy forwards each request from a Durable Object with a `fetch`
 * of its own that the client's disconnect does not cancel, so the user Worker is never told the client left (its
 * `request.signal` stays quiet, the upstream call runs to its end). The last block therefore runs the same bundle in
 * workerd through Miniflare directly (pinned to the version the pinned wrangler runs, with wrangler.toml's date and
 * flags), where workerd does report a dropped connection to the Worker.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Miniflare } from 'miniflare'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unstable_readConfig } from 'wrangler'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import { estimateTokens } from '../helpers/mock-upstream-server.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const wranglerBin = join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
const masterKey = 'test-master-key'
const startTimeoutMs = 45_000

const freePort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

const wranglerEnv = (logDirectory: string): NodeJS.ProcessEnv => ({
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_LOG_PATH: logDirectory,
  // Only the --var flags below configure the Worker: no .env file from the checkout leaks in.
  CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: 'false',
  CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
  NO_COLOR: '1',
  FORCE_COLOR: '0',
})

let upstream: MockUpstream
/** A second provider, configured through GATEHOUSE_CONFIG_YAML, that streams slowly (50 events, 200 ms apart). */
let slowUpstream: MockUpstream
let wrangler: ChildProcess | undefined
let exited: Promise<number | null> = Promise.resolve(null)
let output = ''
let gateway = ''
let scratch = ''

/** Signals wrangler's whole process group; `false` once no process is left in it. */
const signalGroup = (pid: number, signal: NodeJS.Signals): boolean => {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    return false
  }
}

/** SIGTERM, a grace period, then SIGKILL: workerd may outlive wrangler, and the group reaches every process it started. */
const stopWrangler = async (): Promise<void> => {
  const pid = wrangler?.pid
  if (pid === undefined) return
  if (signalGroup(pid, 'SIGTERM')) {
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))])
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  signalGroup(pid, 'SIGKILL')
}

const waitForReady = async (): Promise<void> => {
  const deadline = Date.now() + startTimeoutMs
  const childExit = exited.then((code) => {
    throw new Error(`wrangler dev exited (code ${code}) before serving:\n${output.slice(-4_000)}`)
  })
  childExit.catch(() => {})
  while (Date.now() < deadline) {
    const attempt = fetch(`${gateway}/healthz`, { signal: AbortSignal.timeout(2_000) })
      .then((response) => response.ok)
      .catch(() => false)
    if (await Promise.race([attempt, childExit])) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`wrangler dev was not ready within ${startTimeoutMs} ms:\n${output.slice(-4_000)}`)
}

/** The Worker's own log lines (JSON objects) in what the runtime printed: wrangler dev's output by default. */
const workerLogLines = (text = output): Record<string, unknown>[] =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>]
      } catch {
        return []
      }
    })

const waitForLog = async (
  predicate: (line: Record<string, unknown>) => boolean,
  source: () => string = () => output,
): Promise<Record<string, unknown>> => {
  const deadline = Date.now() + 5_000
  while (Date.now() < deadline) {
    const line = workerLogLines(source()).find(predicate)
    if (line) return line
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no such log line from the Worker; output:\n${source().slice(-3_000)}`)
}

type Bundle = { code: number | null; log: string; outdir: string }
let bundling: Promise<Bundle> | undefined

/** `wrangler deploy --dry-run`: the Worker exactly as it would be uploaded. Built once, for every test that needs it. */
const buildBundle = (): Promise<Bundle> =>
  (bundling ??= new Promise((resolve) => {
    const outdir = join(scratch, 'bundle')
    let log = ''
    const build = spawn(process.execPath, [wranglerBin, 'deploy', '--dry-run', '--outdir', outdir], {
      cwd: root,
      env: wranglerEnv(join(scratch, 'logs')),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    build.stdout.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
    build.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
    build.once('exit', (code) => resolve({ code, log, outdir }))
  }))

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'gatehouse-workers-'))
  upstream = await startMockOpenAIUpstream()
  slowUpstream = await startMockOpenAIUpstream({ models: ['slow-model'], streamChunks: 50, chunkDelayMs: 200 })
  const configYaml = [
    'providers:',
    '  slow:',
    '    type: openai-compatible',
    `    baseUrl: ${slowUpstream.baseUrl}`,
    '    apiKey: ${OPENAI_API_KEY}',
  ].join('\n')
  const [port, inspectorPort] = [await freePort(), await freePort()]
  gateway = `http://127.0.0.1:${port}`
  wrangler = spawn(
    process.execPath,
    [
      wranglerBin,
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--inspector-port',
      String(inspectorPort),
      '--persist-to',
      join(scratch, 'state'),
      '--show-interactive-dev-session=false',
      '--var',
      `OPENAI_BASE_URL:${upstream.baseUrl}`,
      '--var',
      `OPENAI_API_KEY:${MOCK_OPENAI_API_KEY}`,
      '--var',
      `GATEHOUSE_MASTER_KEY:${masterKey}`,
      '--var',
      `GATEHOUSE_CONFIG_YAML:${configYaml}`,
    ],
    { cwd: root, detached: true, env: wranglerEnv(join(scratch, 'logs')), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const child = wrangler
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  await waitForReady()
}, startTimeoutMs + 10_000)

afterAll(async () => {
  await stopWrangler()
  await upstream?.close()
  await slowUpstream?.close()
  if (scratch) rmSync(scratch, { recursive: true, force: true })
})

describe('Gatehouse on Cloudflare Workers (wrangler dev, workerd)', () => {
  const client = (): OpenAI => new OpenAI({ baseURL: `${gateway}/v1`, apiKey: masterKey, maxRetries: 0 })

  it('bundles for Workers with no Node-only import on the bundle path', async () => {
    const { code, log, outdir } = await buildBundle()
    expect(code, log).toBe(0)
    expect(log).not.toMatch(/built into node|nodejs_compat/i)
    const bundle = readdirSync(outdir)
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(join(outdir, file), 'utf8'))
      .join('\n')
    expect(bundle).toContain('/docs/assets/')
    expect(bundle.match(/(?:from|import|require)\s*\(?\s*["']node:[\w/]+["']/g) ?? []).toEqual([])
  }, 30_000)

  it('answers a chat completion through the official client, with the upstream usage', async () => {
    const request = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hello from workerd' }] }
    const direct = new OpenAI({ baseURL: upstream.baseUrl, apiKey: MOCK_OPENAI_API_KEY, maxRetries: 0 })
    const expected = await direct.chat.completions.create(request)
    const { data, response } = await client().chat.completions.create(request).withResponse()
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gatehouse-provider')).toBe('openai')
    expect(data.choices[0].message.content).toBe('echo: Hello from workerd')
    expect(data.choices[0].finish_reason).toBe('stop')
    expect(data.usage).toEqual(expected.usage)
    expect(data.usage?.completion_tokens).toBe(estimateTokens('echo: Hello from workerd'))
    const forwarded = upstream.requests.at(-1)
    expect(forwarded?.path).toBe('/v1/chat/completions')
    expect(forwarded?.body).toEqual(request)
    expect(forwarded?.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)

    // The usage event is written after the response, kept alive by workerd's waitUntil.
    const requestId = response.headers.get('x-request-id')
    const usage = await waitForLog((line) => line.msg === 'usage' && line.requestId === requestId)
    expect(usage).toMatchObject({
      provider: 'openai',
      usage: { inputTokens: expected.usage?.prompt_tokens, outputTokens: expected.usage?.completion_tokens },
    })
    const logged = workerLogLines().map((line) => JSON.stringify(line)).join('\n')
    expect(logged).not.toContain(masterKey)
    expect(logged).not.toContain(MOCK_OPENAI_API_KEY)
  })

  it('streams a chat completion chunk by chunk, usage last', async () => {
    const { data: stream, response } = await client()
      .chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Stream this sentence back to me' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse()
    expect(response.headers.get('content-type')).toContain('text/event-stream')
    expect(response.headers.get('x-gatehouse-provider')).toBe('openai')
    const pieces: string[] = []
    let usage: OpenAI.CompletionUsage | null | undefined
    let finishReason: string | null = null
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content
      if (delta) pieces.push(delta)
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason
      if (chunk.usage) usage = chunk.usage
    }
    expect(pieces.join('')).toBe('echo: Stream this sentence back to me')
    expect(pieces.length).toBeGreaterThan(1)
    expect(finishReason).toBe('stop')
    expect(usage?.completion_tokens).toBe(estimateTokens('echo: Stream this sentence back to me'))
    expect(usage?.prompt_tokens).toBeGreaterThan(0)
  })

  it('stops the upstream stream when the client goes away mid-stream', async () => {
    const controller = new AbortController()
    const { data: stream, response } = await client()
      .chat.completions.create(
        {
          model: 'slow/slow-model',
          messages: [{ role: 'user', content: 'Take your time and stream this rather long sentence back to me, please.' }],
          stream: true,
        },
        { signal: controller.signal },
      )
      .withResponse()
    expect(response.headers.get('x-gatehouse-provider')).toBe('slow')
    const recorded = slowUpstream.requests.at(-1)
    expect(recorded?.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
    const first = await stream[Symbol.asyncIterator]().next()
    expect(first.value?.choices[0]?.delta.role).toBe('assistant')
    controller.abort()
    // The whole stream takes 10 s; the upstream must see the disconnect long before.
    const outcome = await Promise.race([recorded?.settled, new Promise((resolve) => setTimeout(resolve, 5_000, 'still open'))])
    expect(outcome).toBe('aborted')
  })

  it('answers 401 in the OpenAI shape without the master key, and never calls the upstream', async () => {
    const before = upstream.requests.length
    const missing = await fetch(`${gateway}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }),
    })
    expect(missing.status).toBe(401)
    expect(await missing.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_api_key' } })

    const wrongKey = new OpenAI({ baseURL: `${gateway}/v1`, apiKey: 'not-the-master-key', maxRetries: 0 })
    const failure = await wrongKey.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(upstream.requests.length).toBe(before)
  })

  it('serves the docs assets from the assets binding, and nothing else of that folder', async () => {
    const css = await fetch(`${gateway}/docs/assets/swagger-ui.css`)
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toContain('text/css')
    expect(css.headers.get('x-request-id')).toMatch(/^req_/)
    expect(await css.text()).toContain('.swagger-ui')
    const page = await fetch(`${gateway}/docs`)
    expect(await page.text()).toContain('/docs/assets/swagger-ui-bundle.js')
    for (const path of ['/swagger-ui.css', '/index.html', '/package.json', '/docs/assets/package.json']) {
      const response = await fetch(`${gateway}${path}`)
      await response.body?.cancel()
      expect(response.status, path).toBe(404)
    }
  })
})

describe('Gatehouse in workerd without the wrangler dev proxy (Miniflare)', () => {
  let miniflare: Miniflare | undefined
  /** Its own upstream, so its faults and recorded requests never mix with the wrangler dev tests'. */
  let delayedUpstream: MockUpstream | undefined
  let origin = ''
  let runtimeOutput = ''

  beforeAll(async () => {
    const bundle = await buildBundle()
    if (bundle.code !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${bundle.log}`)
    const scripts = readdirSync(bundle.outdir).filter((file) => file.endsWith('.js'))
    if (scripts.length !== 1) throw new Error(`expected one script in the bundle, got ${scripts.join(', ')}`)
    const config = unstable_readConfig({ config: join(root, 'wrangler.toml') }, { hideWarnings: true })
    delayedUpstream = await startMockOpenAIUpstream()
    miniflare = new Miniflare({
      modules: true,
      scriptPath: join(bundle.outdir, scripts[0]),
      modulesRoot: bundle.outdir,
      compatibilityDate: config.compatibility_date,
      compatibilityFlags: config.compatibility_flags,
      bindings: {
        OPENAI_BASE_URL: delayedUpstream.baseUrl,
        OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
        GATEHOUSE_MASTER_KEY: masterKey,
      },
      host: '127.0.0.1',
      port: 0,
      handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
        stdout.on('data', (chunk: Buffer) => (runtimeOutput += chunk.toString('utf8')))
        stderr.on('data', (chunk: Buffer) => (runtimeOutput += chunk.toString('utf8')))
      },
    })
    origin = (await miniflare.ready).origin
  }, 60_000)

  afterAll(async () => {
    await miniflare?.dispose()
    await delayedUpstream?.close()
  })

  // workerd notices a dropped connection while the Worker has not answered only when the socket errors (a reset, as
  // here); a clean close (FIN) goes unseen until the Worker writes its answer, whether through wrangler dev or not.
  it('aborts the upstream request when the client drops the connection while the gateway waits for the first byte', async () => {
    const upstream = delayedUpstream as MockUpstream
    upstream.enqueue({ delayFirstByteMs: 5_000 })
    const outgoing = httpRequest(`${origin}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${masterKey}` },
    })
    outgoing.on('error', () => {})
    outgoing.end(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Never mind' }] }))
    const isChat = (request: { path: string }): boolean => request.path === '/v1/chat/completions'
    const deadline = Date.now() + 5_000
    while (!upstream.requests.some(isChat) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    const chat = upstream.requests.find(isChat)
    expect(chat, runtimeOutput.slice(-3_000)).toBeDefined()
    outgoing.socket?.resetAndDestroy()

    // The upstream would answer after 5 s; it must see the abort long before.
    const outcome = await Promise.race([chat?.settled, new Promise((resolve) => setTimeout(resolve, 3_000, 'still open'))])
    expect(outcome).toBe('aborted')
    // Through `request.signal` (enable_request_signal): the gateway itself saw the client leave. Without the flag
    // workerd still cancels the fetch when it tears the request down, but the gateway never hears of it.
    const aborted = await waitForLog((line) => line.msg === 'upstream attempt aborted: the client left', () => runtimeOutput)
    expect(aborted).toMatchObject({ provider: 'openai', status: 499, kind: 'aborted' })
  })
})
