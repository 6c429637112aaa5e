/**
 * Starts the three processes a benchmark run needs: the mock upstream (core 1, beside the load generator), the
 * reference proxy and the gateway (core 0 each, one at a time under load). The gateway runs as shipped,
 * `node bin/gatehouse.js serve` on the built `dist/`, with auth on and info logs going to a file, its stores where
 * `gatewayEnv` and `gatewayConfig` say (`prepare-bench-stores.ts`). Its providers: `openai` from the environment
 * (`OPENAI_BASE_URL`: the mock), and from its config file `chat-only`, the same mock as an OpenAI-compatible server
 * without the Responses API, behind the route the `streaming-converted` scenario calls (`conversionConfig`).
 */
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import type { ChildProcess } from 'node:child_process'
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { serveNodeFlags, serveV8Flags } from '../src/runtime/serve-node-flags.ts'
import { benchSettings } from './bench-settings.ts'
import { readJsonLine, spawnPinned, stopChild } from './spawn-pinned.ts'
import { transpileToCache } from './transpile-to-cache.ts'

const benchDirectory = fileURLToPath(new URL('.', import.meta.url))
/** Preloaded into the gateway and the reference: their garbage collection pauses (`gc-probe.mjs`). */
export const gcProbe = fileURLToPath(new URL('./gc-probe.mjs', import.meta.url))
export const repositoryRoot = fileURLToPath(new URL('..', import.meta.url))

export type BenchProcess = { url: string; pid: number; child: ChildProcess }

export type BenchProcesses = {
  /** The mock's base URL ends in `/v1`, like `OPENAI_BASE_URL`. */
  mock: BenchProcess & { baseUrl: string }
  reference: BenchProcess
  gateway: BenchProcess & { logPath: string }
  /** Where the gateway's and the reference's garbage collection pauses are kept (`read-gc-pauses.ts`). */
  gcDirectory: string
  /** The chat completions the mock answered; with `phase`, the paced streams tagged with it (`bench_phase`). */
  countMockRequests(phase?: string): Promise<number>
  stop(): Promise<void>
}

/** Node flags from a variable of the environment (`BENCH_GATEWAY_NODE_FLAGS`...), separated by spaces. */
export const nodeFlagsFromEnv = (name: string): string[] =>
  (process.env[name] ?? '').split(/\s+/).filter((flag) => flag !== '')

/** A port the OS just handed out and released: the gateway takes its port from `PORT`, not from an ephemeral bind. */
const findFreePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

const baseEnv = (): Record<string, string | undefined> => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  SCARF_ANALYTICS: 'false',
})

const tail = (path: string): string => {
  try {
    return readFileSync(path, 'utf8').slice(-4_000)
  } catch {
    return ''
  }
}

const waitForReady = async (options: {
  url: string
  child: ChildProcess
  logPath: string
  timeoutMs: number
}) => {
  const deadline = Date.now() + options.timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (options.child.exitCode !== null || options.child.signalCode !== null) {
      const how = options.child.signalCode ?? `code ${options.child.exitCode}`
      throw new Error(
        `The gateway exited (${how}) before it was ready.\n--- gateway output ---\n${tail(options.logPath)}`
      )
    }
    try {
      const response = await fetch(`${options.url}/readyz`)
      last = `${response.status} ${await response.text()}`
      if (response.ok) return
    } catch (error) {
      last = error instanceof Error ? error.message : String(error)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(
    `The gateway was not ready within ${options.timeoutMs} ms (last /readyz: ${last}).\n${tail(options.logPath)}`
  )
}

/**
 * The gateway's providers and routes beside the environment's `openai`: the mock again as `chat-only`, an
 * OpenAI-compatible server that speaks Chat Completions only (`compat.responses: false`, so a Responses call is
 * converted, as a Messages call is), behind the route `benchSettings.convertedModel`. Its models are not discovered
 * and it lists none, so the other scenarios' bare `gpt-4o-mini` still resolves to `openai` alone.
 */
export const conversionConfig = (mockBaseUrl: string) => ({
  providers: {
    'chat-only': {
      type: 'openai-compatible',
      baseUrl: mockBaseUrl,
      apiKey: '${OPENAI_API_KEY}',
      compat: { responses: false },
      discoverModels: false,
    },
  },
  routes: [
    {
      name: benchSettings.convertedModel,
      targets: [{ provider: 'chat-only', model: benchSettings.model }],
    },
  ],
})

/**
 * Starts `bin serve` with the config at `configPath`, its output into `logPath`, and waits until it answers. Pinned to
 * core 0 unless `core` is `null`; with `ipc`, the parent can talk to it (`event-loop-probe.mjs`).
 */
export const startGateway = async (options: {
  mockBaseUrl: string
  logPath: string
  bin: string
  nodeOptions: string[]
  env: Record<string, string>
  configPath: string
  core?: 0 | 1 | null
  ipc?: boolean
  /** What Node runs under (`spawnPinned`); the gateway then gets ten times as long to start. */
  wrapper?: readonly string[]
}) => {
  const port = await findFreePort()
  const log = openSync(options.logPath, 'w')
  const child = spawnPinned({
    wrapper: options.wrapper,
    nodeArgs: [...options.nodeOptions, options.bin, 'serve'],
    core: options.core === null ? undefined : (options.core ?? 0),
    cwd: repositoryRoot,
    env: {
      ...baseEnv(),
      OPENAI_BASE_URL: options.mockBaseUrl,
      OPENAI_API_KEY: benchSettings.upstreamApiKey,
      GATEHOUSE_MASTER_KEY: benchSettings.masterKey,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      GATEHOUSE_CONFIG: options.configPath,
      ...options.env,
    },
    stdio: options.ipc === true ? ['ignore', log, log, 'ipc'] : ['ignore', log, log],
  })
  closeSync(log)
  const url = `http://127.0.0.1:${port}`
  const timeoutMs = options.wrapper === undefined ? 30_000 : 300_000
  await waitForReady({ url, child, logPath: options.logPath, timeoutMs })
  return { url, pid: child.pid as number, child, logPath: options.logPath }
}

/**
 * A cache gateway's config: the prompt cache on for the route `benchSettings.cachedModel` (`openai`'s model, from the
 * environment: the mock), off for every other, in the `backend` store; with Redis, under `redisKeyPrefix`.
 */
export const cacheGatewayConfig = (options: {
  backend: 'memory' | 'redis'
  redisKeyPrefix?: string
  redisTimeoutMs?: number
}) => ({
  cache: { enabled: false, backend: options.backend },
  ...(options.backend === 'redis'
    ? { redis: { keyPrefix: options.redisKeyPrefix, timeoutMs: options.redisTimeoutMs } }
    : {}),
  routes: [
    {
      name: benchSettings.cachedModel,
      targets: [{ provider: 'openai', model: benchSettings.model }],
      cache: { enabled: true },
    },
  ],
})

/**
 * A gateway of the prompt cache's scenarios, beside the main one (core 0 too, idle but for its own scenarios): the
 * same binary, flags and mock, its own SQL store and config (`cacheGatewayConfig`), and its own log.
 */
export const startCacheGateway = async (options: {
  mockBaseUrl: string
  logPath: string
  bin?: string
  nodeOptions?: string[]
  /** Where its stores are: `DATABASE_URL`, with Redis `REDIS_URL`. */
  env: Record<string, string>
  config: Record<string, unknown>
}): Promise<BenchProcess & { logPath: string; stop(): Promise<void> }> => {
  const configDirectory = mkdtempSync(join(tmpdir(), 'gatehouse-bench-cache-config-'))
  try {
    const configPath = join(configDirectory, 'gatehouse.yaml')
    writeFileSync(configPath, stringify(options.config))
    const gateway = await startGateway({
      configPath,
      mockBaseUrl: options.mockBaseUrl,
      logPath: options.logPath,
      bin: options.bin ?? join(repositoryRoot, 'bin', 'gatehouse.js'),
      nodeOptions: [...serveNodeFlags, ...(options.nodeOptions ?? [])],
      env: options.env,
    })
    return {
      ...gateway,
      stop: async () => {
        await stopChild(gateway.child, 15_000)
        rmSync(configDirectory, { recursive: true, force: true })
      },
    }
  } catch (error) {
    rmSync(configDirectory, { recursive: true, force: true })
    throw error
  }
}

export type StartBenchProcessesOptions = {
  gatewayLogPath: string
  /** The gateway's CLI; default the repository's `bin/gatehouse.js` (over `dist/`). */
  gatewayBin?: string
  /** Node flags for the gateway process (`--cpu-prof`...). */
  gatewayNodeOptions?: string[]
  /** Node flags for the reference proxy, to profile it the same way. */
  referenceNodeOptions?: string[]
  /** More environment for the gateway: where its stores are (`prepare-bench-stores.ts`). */
  gatewayEnv?: Record<string, string>
  /** More of the gateway's config file (top-level sections): its stores' settings (`prepare-bench-stores.ts`). */
  gatewayConfig?: Record<string, unknown>
  /** What the gateway's Node runs under (`valgrind ...`: `measure-cost.ts`'s `MEASURE_CALLGRIND`). */
  gatewayWrapper?: readonly string[]
  /**
   * Start a second reference proxy in the gateway's place (`BENCH_A_A=1`): the run then measures the reference
   * against itself, which says how large a difference the method can tell from its own noise.
   */
  gatewayIsReference?: boolean
}

/** The chat completions the mock answered; with `phase`, the paced streams tagged with it (`bench_phase`). */
const countMockRequestsOf =
  (mockChild: ChildProcess) =>
  (phase?: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: { type?: string; served?: number }): void => {
        if (message?.type !== 'count' || typeof message.served !== 'number') return
        mockChild.off('message', onMessage)
        clearTimeout(timer)
        resolve(message.served)
      }
      const timer = setTimeout(() => {
        mockChild.off('message', onMessage)
        reject(new Error('the mock upstream did not report its request count'))
      }, 5_000)
      mockChild.on('message', onMessage)
      mockChild.send({ type: 'count', phase })
    })

export const startBenchProcesses = async (
  options: StartBenchProcessesOptions
): Promise<BenchProcesses> => {
  const started: ChildProcess[] = []
  const configDirectory = mkdtempSync(join(tmpdir(), 'gatehouse-bench-config-'))
  // Where the gateway's and the reference's `gc-probe.mjs` keep their pause totals (`read-gc-pauses.ts`).
  const gcDirectory = join(configDirectory, 'gc')
  mkdirSync(gcDirectory)
  const stop = async (): Promise<void> => {
    // The gateway drains gracefully on SIGTERM (and writes its CPU profile, when asked, on the way out).
    await Promise.all(started.map((child) => stopChild(child, 15_000)))
    rmSync(configDirectory, { recursive: true, force: true })
  }
  try {
    const mockChild = spawnPinned({
      nodeArgs: ['--import', 'tsx', `${benchDirectory}mock-upstream-process.ts`],
      core: 1,
      cwd: repositoryRoot,
      env: baseEnv(),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    started.push(mockChild)
    const { baseUrl } = await readJsonLine<{ baseUrl: string }>(mockChild, 20_000)
    const mockOrigin = new URL(baseUrl).origin

    const startReference = async (): Promise<BenchProcess> => {
      const child = spawnPinned({
        nodeArgs: [
          // What `gatehouse serve` sets in its own process (`serveV8Flags`: no allocation-site pretenuring). Without
          // it the reference, too, sometimes fell for its whole life into scavenges of 6 to 7 ms and 25 full
          // collections a scenario (2026-12-06), and a ratio against it flattered the gateway.
          ...serveV8Flags,
          '--import',
          gcProbe,
          ...(options.referenceNodeOptions ?? []),
          transpileToCache(`${benchDirectory}reference-proxy.ts`),
        ],
        core: 0,
        cwd: repositoryRoot,
        env: {
          ...baseEnv(),
          GATEHOUSE_BENCH_GC_DIR: gcDirectory,
          UPSTREAM_ORIGIN: mockOrigin,
          UPSTREAM_API_KEY: benchSettings.upstreamApiKey,
          PORT: '0',
        },
      })
      started.push(child)
      const { url } = await readJsonLine<{ url: string }>(child, 20_000)
      return { url, pid: child.pid as number, child }
    }
    const reference = await startReference()
    const countMockRequests = countMockRequestsOf(mockChild)

    if (options.gatewayIsReference === true) {
      const twin = await startReference()
      writeFileSync(
        options.gatewayLogPath,
        'A second reference proxy stood in for the gateway (BENCH_A_A).\n'
      )
      return {
        mock: { url: mockOrigin, baseUrl, pid: mockChild.pid as number, child: mockChild },
        reference,
        gateway: { ...twin, logPath: options.gatewayLogPath },
        gcDirectory,
        countMockRequests,
        stop,
      }
    }

    const configPath = join(configDirectory, 'gatehouse.yaml')
    writeFileSync(configPath, stringify({ ...conversionConfig(baseUrl), ...options.gatewayConfig }))
    const gateway = await startGateway({
      configPath,
      mockBaseUrl: baseUrl,
      logPath: options.gatewayLogPath,
      bin: options.gatewayBin ?? join(repositoryRoot, 'bin', 'gatehouse.js'),
      // As `npm start` runs it; flags of the run's own come after, and win.
      nodeOptions: [...serveNodeFlags, '--import', gcProbe, ...(options.gatewayNodeOptions ?? [])],
      env: { ...options.gatewayEnv, GATEHOUSE_BENCH_GC_DIR: gcDirectory },
      wrapper: options.gatewayWrapper,
    })
    started.push(gateway.child)

    return {
      mock: { url: mockOrigin, baseUrl, pid: mockChild.pid as number, child: mockChild },
      reference,
      gateway,
      gcDirectory,
      countMockRequests,
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}
