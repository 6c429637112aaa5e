/**
 * The gateway as it runs on Cloudflare Workers: `wrangler dev` bundles src/runtime/workers.ts with esbuild and runs it
 * in workerd (no Node APIs, no `nodejs_compat`), in front of the scenario upstreams, configured through `--var`
 * bindings. It runs the shared gateway scenarios (test/scenarios/gateway-scenarios.ts, which the Node suite runs too)
 * and what only Workers has: the bundle itself (a Node-only import anywhere on the bundle path fails this file).
 *
 * One behaviour cannot be seen through `wrangler dev`: a client that leaves before the first byte. wrangler dev puts a
 * proxy Worker in front of the user Worker, and that proxy forwards each request from a Durable Object with a `fetch`
 * of its own that the client's disconnect does not cancel, so the user Worker is never told the client left (its
 * `request.signal` stays quiet, the upstream call runs to its end). The last block therefore runs the same bundle in
 * workerd through Miniflare directly (pinned to the version the pinned wrangler runs, with wrangler.toml's date and
 * flags), where workerd does report a dropped connection to the Worker. The same way, a config written for Node, with
 * a local model provider in its routes and fallbacks, is shown to serve on Workers without it.
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
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unstable_readConfig } from 'wrangler'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'
import { gatewayScenarios } from '../scenarios/gateway-scenarios.ts'
import {
  parseLogLines,
  scenarioSettings,
  SCENARIO_MASTER_KEY,
  startScenarioUpstreams,
  waitForLogLine,
} from '../scenarios/scenario-gateway.ts'
import type { ScenarioGateway, ScenarioUpstreams } from '../scenarios/scenario-gateway.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const wranglerBin = join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
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

let upstreams: ScenarioUpstreams | undefined
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
  throw new Error(
    `wrangler dev was not ready within ${startTimeoutMs} ms:\n${output.slice(-4_000)}`
  )
}

type Bundle = { code: number | null; log: string; outdir: string }
let bundling: Promise<Bundle> | undefined

/** `wrangler deploy --dry-run`: the Worker exactly as it would be uploaded. Built once, for every test that needs it. */
const buildBundle = (): Promise<Bundle> =>
  (bundling ??= new Promise((resolve) => {
    const outdir = join(scratch, 'bundle')
    let log = ''
    const build = spawn(
      process.execPath,
      [wranglerBin, 'deploy', '--dry-run', '--outdir', outdir],
      {
        cwd: root,
        env: wranglerEnv(join(scratch, 'logs')),
        stdio: ['ignore', 'pipe', 'pipe'],
      }
    )
    build.stdout.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
    build.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
    build.once('exit', (code) => resolve({ code, log, outdir }))
  }))

beforeAll(
  async () => {
    scratch = mkdtempSync(join(tmpdir(), 'gatehouse-workers-'))
    upstreams = await startScenarioUpstreams()
    const { variables, configYaml } = scenarioSettings(upstreams)
    const bindings = Object.entries({ ...variables, GATEHOUSE_CONFIG_YAML: configYaml }).flatMap(
      ([name, value]) => ['--var', `${name}:${value}`]
    )
    // A port found free can be taken before wrangler binds it (or one workerd picks itself, by another test's socket
    // meanwhile): "Address already in use" is tried again on fresh ports, anything else fails at once.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await startWrangler(bindings)
        return
      } catch (error) {
        if (attempt === 3 || !/Address already in use/.test(output)) throw error
        await stopWrangler()
        output = ''
      }
    }
  },
  3 * (startTimeoutMs + 10_000)
)

/** `wrangler dev` on ports found free, ready once `/healthz` answers. */
const startWrangler = async (bindings: string[]): Promise<void> => {
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
      ...bindings,
    ],
    {
      cwd: root,
      detached: true,
      env: wranglerEnv(join(scratch, 'logs')),
      stdio: ['ignore', 'pipe', 'pipe'],
    }
  )
  const child = wrangler
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  await waitForReady()
}

afterAll(async () => {
  await stopWrangler()
  await upstreams?.close()
  if (scratch) rmSync(scratch, { recursive: true, force: true })
})

describe('Gatehouse on Cloudflare Workers (wrangler dev, workerd)', () => {
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

  const scenarioGateway = (): ScenarioGateway => ({
    url: gateway,
    masterKey: SCENARIO_MASTER_KEY,
    upstreams: upstreams!,
    logLines: () => parseLogLines(output),
  })

  for (const scenario of gatewayScenarios) it(scenario.name, () => scenario.run(scenarioGateway()))
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
    if (scripts.length !== 1)
      throw new Error(`expected one script in the bundle, got ${scripts.join(', ')}`)
    const config = unstable_readConfig(
      { config: join(root, 'wrangler.toml') },
      { hideWarnings: true }
    )
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
        GATEHOUSE_MASTER_KEY: SCENARIO_MASTER_KEY,
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
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${SCENARIO_MASTER_KEY}`,
      },
    })
    outgoing.on('error', () => {})
    outgoing.end(
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Never mind' }] })
    )
    const isChat = (request: { path: string }): boolean => request.path === '/v1/chat/completions'
    const deadline = Date.now() + 5_000
    while (!upstream.requests.some(isChat) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20))
    const chat = upstream.requests.find(isChat)
    expect(chat, runtimeOutput.slice(-3_000)).toBeDefined()
    outgoing.socket?.resetAndDestroy()

    // The upstream would answer after 5 s; it must see the abort long before.
    const outcome = await Promise.race([
      chat?.settled,
      new Promise((resolve) => setTimeout(resolve, 3_000, 'still open')),
    ])
    expect(outcome).toBe('aborted')
    // Through `request.signal` (enable_request_signal): the gateway itself saw the client leave. Without the flag
    // workerd still cancels the fetch when it tears the request down, but the gateway never hears of it.
    const aborted = await waitForLogLine(
      () => parseLogLines(runtimeOutput),
      (line) => line.msg === 'upstream attempt aborted: the client left'
    )
    expect(aborted).toMatchObject({ provider: 'openai', status: 499, kind: 'aborted' })
  })
})

describe('Gatehouse in workerd with a config that has a local model provider (Miniflare)', () => {
  let miniflare: Miniflare | undefined
  let upstream: MockUpstream | undefined
  let origin = ''
  let runtimeOutput = ''

  beforeAll(async () => {
    const bundle = await buildBundle()
    if (bundle.code !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${bundle.log}`)
    const [script] = readdirSync(bundle.outdir).filter((file) => file.endsWith('.js'))
    const config = unstable_readConfig(
      { config: join(root, 'wrangler.toml') },
      { hideWarnings: true }
    )
    upstream = await startMockOpenAIUpstream()
    miniflare = new Miniflare({
      modules: true,
      scriptPath: join(bundle.outdir, script),
      modulesRoot: bundle.outdir,
      compatibilityDate: config.compatibility_date,
      compatibilityFlags: config.compatibility_flags,
      bindings: {
        OPENAI_BASE_URL: upstream.baseUrl,
        OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
        GATEHOUSE_MASTER_KEY: SCENARIO_MASTER_KEY,
        GATEHOUSE_CONFIG_YAML: [
          'providers:',
          '  local: { type: local, directory: models }',
          'routes:',
          '  - name: main',
          '    targets:',
          '      - { provider: local, model: gatehouse-tiny }',
          '      - { provider: openai, model: gpt-4o-mini }',
          '    shortRequests: { provider: local, model: gatehouse-tiny, maxInputTokens: 200, maxOutputTokens: 64 }',
          'fallbacks:',
          '  - { provider: local, model: gatehouse-tiny }',
        ].join('\n'),
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
    await upstream?.close()
  })

  const ask = (path: string, body?: unknown): Promise<Response> =>
    fetch(`${origin}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${SCENARIO_MASTER_KEY}`,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })

  it('starts, and routes, fallbacks and short requests skip the local provider', async () => {
    const ready = await fetch(`${origin}/readyz`)
    expect(ready.status, runtimeOutput.slice(-3_000)).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', providers: ['openai'] })
    for (const model of ['main', 'gpt-4o-mini']) {
      const response = await ask('/v1/chat/completions', {
        model,
        max_tokens: 8,
        messages: [{ role: 'user', content: 'Hi' }],
      })
      expect(response.status).toBe(200)
      expect(response.headers.get('x-gatehouse-provider')).toBe('openai')
      expect(response.headers.get('x-gatehouse-attempts')).toBe('1')
    }
    const listed = (await (await ask('/v1/models')).json()) as { data: { id: string }[] }
    expect(listed.data.length).toBeGreaterThan(0)
    expect(listed.data.filter((model) => model.id.startsWith('local/'))).toEqual([])
    for (const [path, body] of [
      [
        '/v1/chat/completions',
        { model: 'local/gatehouse-tiny', messages: [{ role: 'user', content: 'Hi' }] },
      ],
      ['/v1/embeddings', { model: 'local/gatehouse-tiny-embed', input: 'hi' }],
    ] as const) {
      const refused = await ask(path, body)
      expect(refused.status).toBe(404)
      expect(await refused.json()).toMatchObject({
        error: {
          code: 'model_not_found',
          message: expect.stringContaining('does not run in this runtime'),
        },
      })
    }
    const leftOut = await waitForLogLine(
      () => parseLogLines(runtimeOutput),
      (line) => typeof line.msg === 'string' && line.msg.startsWith('provider left out')
    )
    expect(leftOut).toMatchObject({ level: 'warn', provider: 'local', type: 'local' })
  })
})
