/**
 * The Node entry: reads the environment and the config file, builds `Deps`, serves the app with
 * `@hono/node-server`, and shuts down gracefully. `bin/gatehouse.js` calls `startNodeServer` and owns the process
 * (signals, exit codes, what the terminal shows).
 *
 * Shutdown (SIGTERM/SIGINT): `/readyz` answers 503 at once; the listening socket closes, so no new connection is
 * accepted; requests already in flight, streams included, get `server.drainTimeoutMs` to finish; then the remaining
 * connections are closed (their clients' signals abort the upstream calls), deferred work is awaited, and the upstream
 * pools close. Keep-alive connections that were idle at SIGTERM stay open during the drain and answer with
 * `Connection: close`, so a load balancer polling `/readyz` on a pooled connection sees the 503.
 *
 * Client disconnects: the response closing before it finished (`node-client-signal.ts`, the same test
 * @hono/node-server applies to `c.req.raw.signal`) aborts the upstream call.
 * https://github.com/honojs/node-server#readme
 */
import { readFileSync, rmSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { loadConfig } from '../../config/load-config.ts'
import { createApp } from '../app.ts'
import { systemClock } from '../core/clock.ts'
import { createProviderRegistry } from '../core/provider-registry.ts'
import { resolveConfig } from '../core/resolve-config.ts'
import type { Deps } from '../deps.ts'
import { createMasterKeyAuthenticator } from '../middleware/master-key-authenticator.ts'
import { resolveMasterKey } from './master-key.ts'
import type { ResolvedMasterKey } from './master-key.ts'
import { createNodeAssets } from './node-assets.ts'
import { createJsonLogger, isLogLevel, logLevels } from './json-logger.ts'
import type { LogLevel } from './json-logger.ts'
import { createBatchedWriter } from './batched-writer.ts'
import { createNodeTransport } from './node-transport.ts'
import { nodeClientSignal } from './node-client-signal.ts'
import { nodeStreamBody } from './node-stream-body.ts'
import { serveNode } from './serve-node.ts'
import type { ServingNode } from './serve-node.ts'
import { StartupError } from './startup-error.ts'
import { waitAtMost } from './wait-at-most.ts'

export { StartupError } from './startup-error.ts'

const noop = (): void => {}

export type NodeServerOptions = {
  env: Record<string, string | undefined>
  /** Relative `GATEHOUSE_CONFIG` paths and `./data` resolve against it. */
  cwd: string
  /** Where log lines go (default process.stdout). */
  stdout?: (line: string) => void
}

export type NodeServer = {
  url: string
  host: string
  port: number
  /** How the master key was obtained; the CLI shows a generated key once (never through the logger). */
  masterKey: ResolvedMasterKey
  /** Graceful shutdown (module doc); idempotent. */
  close(): Promise<void>
}

const readLogLevel = (value: string | undefined): { level: LogLevel; error?: string } => {
  if (value === undefined || value === '') return { level: 'info' }
  const level = value.toLowerCase()
  if (isLogLevel(level)) return { level }
  return { level: 'info', error: `env.LOG_LEVEL: expected one of ${logLevels.join(', ')}, got "${value}"` }
}

const readConfigFile = (options: { path: string | undefined; cwd: string }): { text?: string; error?: string } => {
  if (options.path === undefined || options.path === '') return {}
  const file = isAbsolute(options.path) ? options.path : join(options.cwd, options.path)
  try {
    return { text: readFileSync(file, 'utf8') }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return { error: `env.GATEHOUSE_CONFIG: cannot read ${file}${code === undefined ? '' : ` (${code})`}` }
  }
}

const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host)

export const startNodeServer = async (options: NodeServerOptions): Promise<NodeServer> => {
  const { env, cwd } = options
  const logLevel = readLogLevel(env.LOG_LEVEL)
  const file = readConfigFile({ path: env.GATEHOUSE_CONFIG, cwd })
  const earlyErrors = [logLevel.error, file.error].filter((error): error is string => error !== undefined)
  if (file.error !== undefined) throw new StartupError(earlyErrors)
  const loaded = loadConfig({ env, fileText: file.text, fileName: env.GATEHOUSE_CONFIG })
  if (!loaded.ok || earlyErrors.length > 0) throw new StartupError([...earlyErrors, ...(loaded.ok ? [] : loaded.errors)])

  const resolved = resolveConfig(loaded.config)
  const providers = createProviderRegistry(resolved)
  const unsupported = providers
    .list()
    .filter((entry) => !entry.adapter.runtimes.includes('node'))
    .map((entry) => `providers.${entry.config.id}: a provider of type ${entry.config.type} cannot run on Node`)
  if (unsupported.length > 0) throw new StartupError(unsupported)

  let masterKey: ResolvedMasterKey
  try {
    masterKey = resolveMasterKey({ configured: resolved.masterKey, dataDir: join(cwd, 'data') })
  } catch (error) {
    throw new StartupError([`auth.masterKey: ${(error as Error).message}`])
  }
  const config = { ...resolved, masterKey: masterKey.key }
  // Lines given to a caller's `stdout` go one by one (tests read them); process.stdout gets them batched per turn.
  const batched = options.stdout === undefined ? createBatchedWriter((text) => void process.stdout.write(text)) : undefined
  const flushLog = (): void => batched?.flush()
  if (batched !== undefined) process.once('exit', flushLog)
  const logger = createJsonLogger({
    level: logLevel.level,
    write: options.stdout ?? batched?.write,
    secrets: [masterKey.key, ...providers.list().flatMap((entry) => entry.credentials.apiKey ?? [])],
  })
  const transport = createNodeTransport()
  const deferred = new Set<Promise<void>>()
  let draining = false

  const deps: Deps = {
    config,
    providers,
    transport,
    clock: systemClock,
    logger,
    defer: (work) => {
      const tracked: Promise<void> = work
        .then(noop, (error: unknown) => logger.error({ err: error }, 'deferred work failed'))
        .finally(() => deferred.delete(tracked))
      deferred.add(tracked)
    },
    authenticator: createMasterKeyAuthenticator(masterKey.key),
    runtime: 'node',
    assets: createNodeAssets(),
    isDraining: () => draining,
    clientSignal: nodeClientSignal,
    streamBody: nodeStreamBody,
  }

  let serving: ServingNode
  try {
    const app = createApp(deps)
    serving = await serveNode({ fetch: app.fetch, host: config.server.host, port: config.server.port, logger })
  } catch (error) {
    // A key nobody was shown must not survive a failed start: the next start would only print its path.
    if (masterKey.generated && masterKey.file !== undefined) rmSync(masterKey.file, { force: true })
    await transport.close()
    flushLog()
    process.off('exit', flushLog)
    throw error
  }
  const url = `http://${urlHost(config.server.host)}:${serving.port}`
  logger.info({ url, providers: providers.list().map((entry) => entry.config.id) }, 'gatehouse listening')
  if (providers.list().length === 0) {
    logger.warn({}, 'no provider configured: set OPENAI_API_KEY or ANTHROPIC_API_KEY, or point GATEHOUSE_CONFIG at a config file')
  }
  // Start-up lines go out before the CLI prints its own.
  flushLog()

  let closing: Promise<void> | undefined
  const shutdown = async (): Promise<void> => {
    draining = true
    const drainTimeoutMs = config.server.drainTimeoutMs
    logger.info({ drainTimeoutMs }, 'draining: no new connections, waiting for in-flight requests')
    const { unfinished } = await serving.drain(drainTimeoutMs)
    if (unfinished > 0) logger.warn({ unfinished }, 'drain timeout: closed connections with requests still in flight')
    if (!(await waitAtMost(Promise.all(deferred), drainTimeoutMs))) {
      logger.warn({ pending: deferred.size }, 'deferred work still pending at shutdown')
    }
    await waitAtMost(transport.close(), 5_000)
    logger.info({}, 'shutdown complete')
    flushLog()
    process.off('exit', flushLog)
  }

  return {
    url,
    host: config.server.host,
    port: serving.port,
    masterKey,
    close: () => (closing ??= shutdown()),
  }
}
