/**
 * The gateway as it runs on Cloudflare Workers: `wrangler dev` bundles src/runtime/workers.ts with esbuild and runs it
 * in workerd (no Node APIs, no `nodejs_compat`), in front of a local mock OpenAI upstream, driven by the official
 * `openai` client. A Node-only import anywhere on the bundle path fails this file.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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

/** The Worker's own log lines (JSON objects), as wrangler dev prints them. */
const workerLogLines = (): Record<string, unknown>[] =>
  output
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

const waitForLog = async (predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
  const deadline = Date.now() + 5_000
  while (Date.now() < deadline) {
    const line = workerLogLines().find(predicate)
    if (line) return line
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no such log line from the Worker; output:\n${output.slice(-3_000)}`)
}

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
    const outdir = join(scratch, 'bundle')
    let log = ''
    const build = spawn(process.execPath, [wranglerBin, 'deploy', '--dry-run', '--outdir', outdir], {
      cwd: root,
      env: wranglerEnv(join(scratch, 'logs')),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    build.stdout.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
    build.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
    const code = await new Promise<number | null>((resolve) => build.once('exit', resolve))
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
