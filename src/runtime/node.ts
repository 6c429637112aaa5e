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
import { rmSync } from 'node:fs'
import { createApp } from '../app.ts'
import type { ResolvedMasterKey } from './master-key.ts'
import { buildNodeDeps, type NodeDepsOptions } from './node-deps.ts'
import { serveNode, type ServingNode } from './serve-node.ts'
import { waitAtMost } from './wait-at-most.ts'

export { StartupError } from './startup-error.ts'

/** The longest shutdown waits for one closable (a store's connection, a pool) before going on without it. */
const closeTimeoutMs = 5_000

export type NodeServerOptions = NodeDepsOptions

export type NodeServer = {
  url: string
  host: string
  port: number
  /** How the master key was obtained; the CLI shows a generated key once (never through the logger). */
  masterKey: ResolvedMasterKey
  /** Graceful shutdown (module doc); idempotent. */
  close(): Promise<void>
}

const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host)

/** Builds `Deps` (`node-deps.ts`), serves the app, and returns the handle whose `close` is the graceful shutdown. */
export const startNodeServer = async (options: NodeServerOptions): Promise<NodeServer> => {
  const built = await buildNodeDeps(options)
  const { deps, config, masterKey } = built
  const { logger } = deps

  let serving: ServingNode
  try {
    const app = createApp(deps)
    serving = await serveNode({
      fetch: app.fetch,
      host: config.server.host,
      port: config.server.port,
      requestTimeoutMs: config.server.requestTimeoutMs,
      logger,
    })
  } catch (error) {
    // A key nobody was shown must not survive a failed start: the next start would only print its path.
    if (masterKey.generated && masterKey.file !== undefined) rmSync(masterKey.file, { force: true })
    await built.discard()
    throw error
  }
  const url = `http://${urlHost(config.server.host)}:${serving.port}`
  const providerIds = deps.providers.list().map((entry) => entry.config.id)
  logger.info({ url, providers: providerIds }, 'gatehouse listening')
  if (providerIds.length === 0) {
    logger.warn(
      {},
      'no provider configured: set OPENAI_API_KEY or ANTHROPIC_API_KEY, point GATEHOUSE_CONFIG at a config file, or build the local models into ./models (npm run model:build)'
    )
  }
  // Start-up lines go out before the CLI prints its own.
  built.flushLog()

  let closing: Promise<void> | undefined
  const shutdown = async (): Promise<void> => {
    built.startDraining()
    const drainTimeoutMs = config.server.drainTimeoutMs
    logger.info({ drainTimeoutMs }, 'draining: no new connections, waiting for in-flight requests')
    const { unfinished } = await serving.drain(drainTimeoutMs)
    if (unfinished > 0)
      logger.warn({ unfinished }, 'drain timeout: closed connections with requests still in flight')
    if (!(await waitAtMost(built.settleDeferred(), drainTimeoutMs))) {
      logger.warn({ pending: built.pendingDeferred() }, 'deferred work still pending at shutdown')
    }
    // In order: the background poller (a settlement it started records its event), the usage sink (its events written
    // before exit), then what it may still have written through.
    for (const closable of deps.closables) {
      try {
        if (!(await waitAtMost(closable.close(), closeTimeoutMs)))
          logger.warn({ name: closable.name }, 'close timed out at shutdown')
      } catch (error) {
        logger.error({ name: closable.name, err: error }, 'close failed at shutdown')
      }
    }
    logger.info({}, 'shutdown complete')
    await built.discard()
  }

  return {
    url,
    host: config.server.host,
    port: serving.port,
    masterKey,
    close: () => (closing ??= shutdown()),
  }
}
