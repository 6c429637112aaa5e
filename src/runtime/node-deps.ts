/**
 * Builds the Node runtime's `Deps` from the environment and the config file: config, one bounded undici pool per
 * provider instance (its `pool` settings), the stores, the provider registry (HTTP adapters and the local model,
 * started before the server listens, on the model versions kept in the database), the model versions' manager and its
 * sync with the other processes, the master key, the JSON logger, the usage sink and the execution log, and the
 * ordered list of what shutdown closes. `node.ts` owns the server and its lifecycle; this file owns what the app is
 * given.
 */
import { hash } from 'node:crypto'
import { join } from 'node:path'
import { systemClock } from '../core/clock.ts'
import { createBackgroundPoller } from '../api/openai-responses/background-poller.ts'
import { createBackgroundUsageSettler } from '../api/openai-responses/background-usage.ts'
import { fanOutObservers } from '../core/execution-observer.ts'
import { createExecutionLog } from '../core/log-execution-events.ts'
import type { Logger } from '../core/logger.ts'
import { createModelVersionManager } from '../core/model-version-manager.ts'
import { createProviderRegistry } from '../core/provider-registry.ts'
import type { ResolvedConfig } from '../core/resolve-config.ts'
import { createStoreUsageSink, fanOutUsageSinks } from '../core/store-usage-sink.ts'
import { createLogUsageSink } from '../core/usage.ts'
import type { Deps } from '../deps.ts'
import { createMasterKeyAuthenticator } from '../middleware/master-key-authenticator.ts'
import { createTenantKeyAuthenticator } from '../middleware/tenant-key-authenticator.ts'
import type { Closable } from '../stores/types.ts'
import { createBatchedWriter, pipeAtomicWriteBytes } from './batched-writer.ts'
import { httpProviderFactories } from './http-provider-factories.ts'
import { localProviderFactories } from './local-provider-factories.ts'
import { createJsonLogger } from './json-logger.ts'
import { loadNodeConfig } from './load-node-config.ts'
import { resolveMasterKey, type ResolvedMasterKey } from './master-key.ts'
import { createNodeAssets } from './node-assets.ts'
import { nodeClientSignal } from './node-client-signal.ts'
import { nodeStreamBody } from './node-stream-body.ts'
import { openNodeStores } from './open-node-stores.ts'
import { startModelVersionSync } from './start-model-version-sync.ts'
import { createNodeTransport, type NodeTransport } from './node-transport.ts'
import { StartupError } from './startup-error.ts'
import { waitAtMost } from './wait-at-most.ts'
import { providerSecrets, rememberSecrets } from '../../providers/shared/redact-secrets.ts'

export type NodeDepsOptions = {
  env: Record<string, string | undefined>
  /** Relative `GATEHOUSE_CONFIG` paths and `./data` resolve against it. */
  cwd: string
  /** Where log lines go (default process.stdout, batched per turn). */
  stdout?: (line: string) => void
  /**
   * Other processes write to the same stdout (the workers of `serve --workers`): every log line carries `pid`, and
   * lines go out in writes a pipe keeps whole (`batched-writer.ts`).
   */
  sharedStdout?: boolean
}

export type NodeDeps = {
  deps: Deps
  config: ResolvedConfig
  /** How the master key was obtained; the CLI shows a generated key once (never through the logger). */
  masterKey: ResolvedMasterKey
  /** Marks the process as draining: `/readyz` answers 503 from then on. */
  startDraining(): void
  /** Resolves once the work handed to `deps.defer` so far has settled. */
  settleDeferred(): Promise<void>
  /** How many deferred tasks are still pending. */
  pendingDeferred(): number
  /** Writes out the log lines batched so far (before exit; before the CLI prints its own). */
  flushLog(): void
  /** Releases what building took (for a start that failed after it: the log hook, the pools). */
  discard(): Promise<void>
}

const noop = (): void => {}

/** How long a budget counter's seed waits at most for the usage sink's flush (`flushBeforeSeeding`). */
const seedFlushMs = 1_000

/**
 * How long a tenant key that passed is remembered without Redis (`createTenantKeyAuthenticator`'s `cacheTtlMs`): the
 * in-process revocation feed cannot hear another gateway on the same database, so its revocations are seen here when
 * this runs out, within a second as everywhere else. One key lookup per key and second costs next to nothing.
 */
export const unsharedKeyCacheTtlMs = 1_000

/** Rejects with `StartupError` listing every problem with the environment, the config or the stores. */
export const buildNodeDeps = async (options: NodeDepsOptions): Promise<NodeDeps> => {
  const { cwd } = options
  const { config: resolved, logLevel, offlineModels } = loadNodeConfig({ env: options.env, cwd })

  let masterKey: ResolvedMasterKey
  try {
    masterKey = resolveMasterKey({ configured: resolved.masterKey, dataDir: join(cwd, 'data') })
  } catch (error) {
    throw new StartupError([`auth.masterKey: ${(error as Error).message}`])
  }
  const config: ResolvedConfig = { ...resolved, masterKey: masterKey.key }

  // Lines given to a caller's `stdout` go one by one (tests read them); process.stdout gets them batched per turn.
  const batched =
    options.stdout === undefined
      ? createBatchedWriter(
          (text) => void process.stdout.write(text),
          options.sharedStdout === true ? { maxWriteBytes: pipeAtomicWriteBytes } : {}
        )
      : undefined
  const flushLog = (): void => batched?.flush()
  if (batched !== undefined) process.once('exit', flushLog)
  const secrets = [masterKey.key, ...providerSecrets(config.providers)]
  rememberSecrets(secrets)
  const logger: Logger = createJsonLogger({
    level: logLevel,
    write: options.stdout ?? batched?.write,
    secrets,
    base: options.sharedStdout === true ? { pid: process.pid } : undefined,
  })

  if (offlineModels !== null)
    logger.info(
      { directory: offlineModels },
      'no provider configured: serving the local models as provider local (set OPENAI_API_KEY or ANTHROPIC_API_KEY, or point GATEHOUSE_CONFIG at a config file, to reach others)'
    )

  // Built before the providers: the local model reports each call's inference to them.
  const observers = [createExecutionLog(logger)]
  const transports: NodeTransport[] = []
  const built = createProviderRegistry({
    providers: config.providers,
    factories: {
      ...httpProviderFactories((provider) => {
        const transport = createNodeTransport(provider.pool)
        transports.push(transport)
        return transport
      }, config),
      ...localProviderFactories({ cwd, logger, observer: fanOutObservers(observers) }),
    },
    runtimeName: 'Node',
  })
  const closeTransports = async (): Promise<void> => {
    await Promise.all(transports.map((transport) => transport.close()))
  }
  if (!built.ok) {
    void closeTransports()
    throw new StartupError(built.errors)
  }
  const providers = built.registry

  const deferred = new Set<Promise<void>>()
  const defer = (work: Promise<unknown>): void => {
    const tracked: Promise<void> = work
      .then(noop, (error: unknown) => logger.error({ err: error }, 'deferred work failed'))
      .finally(() => deferred.delete(tracked))
    deferred.add(tracked)
  }
  let opened
  try {
    opened = await openNodeStores({ config, cwd, logger, clock: systemClock })
  } catch (error) {
    batched?.flush()
    await closeTransports()
    throw error
  }
  const { stores } = opened
  // Closed by the shutdown, or by `discard` after a start that failed later: once either way.
  const storeClosables = opened.closables.map((closable): Closable => {
    let closing: Promise<void> | undefined
    return { name: closable.name, close: () => (closing ??= closable.close()) }
  })
  const closeStores = async (): Promise<void> => {
    for (const closable of storeClosables) await closable.close().catch(() => {})
  }

  // The model versions an operator activated are kept in the database: the local models start on them.
  const modelVersions = createModelVersionManager({
    providers,
    store: stores.modelVersions,
    clock: systemClock,
    logger,
  })
  try {
    await modelVersions.restore()
  } catch (error) {
    await closeStores()
    await closeTransports()
    throw new StartupError([
      `model versions: cannot read the activations kept in the database: ${(error as Error).message}`,
    ])
  }
  // Local models are loaded before the gateway listens: a model folder that is missing or broken stops the start.
  const started = await providers.start()
  if (started.failed.length > 0) {
    await providers.close()
    await closeStores()
    await closeTransports()
    flushLog()
    throw new StartupError(
      started.failed.flatMap(({ provider, error }) =>
        String((error as Error).message ?? error)
          .split('\n')
          .map((line) => `providers.${provider}: ${line}`)
      )
    )
  }
  const modelVersionSync = providers
    .list()
    .some((entry) => entry.adapter.modelVersions !== undefined)
    ? startModelVersionSync({ manager: modelVersions, logger })
    : null
  logger.info(
    { database: opened.databaseLocation, limits: opened.shared ? 'redis' : 'in-process' },
    'stores open'
  )
  const storeSink = createStoreUsageSink({
    store: opened.usageWriter,
    clock: systemClock,
    logger,
    batchSize: config.usage.batchSize,
    flushIntervalMs: config.usage.flushIntervalMs,
    maxBuffered: config.usage.maxBuffered,
  })
  // A budget counter seeded from the store counts what this process has settled but not written yet; a store that
  // does not answer holds the seed (a request's admission) for a second at most.
  opened.flushBeforeSeeding(() => waitAtMost(storeSink.flush(), seedFlushMs))
  const usage = fanOutUsageSinks([
    storeSink,
    // The store keeps every event; a log line per request besides is the operator's choice (`usage.log`).
    ...(config.usage.log === true ? [createLogUsageSink({ logger, defer })] : []),
  ])
  // Background responses' usage, polled for on every instance (they share the work through the response store).
  const backgroundPoller = createBackgroundPoller({
    store: stores.responses,
    providers,
    settler: createBackgroundUsageSettler({
      store: stores.responses,
      usage,
      admission: stores.admission,
      prices: config.prices,
      clock: systemClock,
      logger,
    }),
    clock: systemClock,
    logger,
    settings: config.usage.backgroundPolling,
  })
  const closables: Closable[] = [
    // First: a settlement it has started records its usage event before the sink closes.
    backgroundPoller,
    // Before the providers: no version switch starts while they close.
    ...(modelVersionSync === null ? [] : [modelVersionSync]),
    { name: 'usage sink', close: () => usage.close() },
    {
      name: 'providers',
      close: async () => {
        const { failed } = await providers.close()
        for (const { provider, error } of failed)
          logger.error({ provider, err: error }, 'provider failed to close')
      },
    },
    { name: 'upstream pools', close: closeTransports },
    ...storeClosables,
  ]
  let draining = false

  const deps: Deps = {
    config,
    providers,
    stores,
    usage,
    observers,
    closables,
    clock: systemClock,
    logger,
    defer,
    authenticator: createTenantKeyAuthenticator({
      master: createMasterKeyAuthenticator(masterKey.key),
      tenants: stores.tenants,
      revocations: stores.revocations,
      clock: systemClock,
      // Without Redis the feed reaches this process only, while another gateway on the same database may revoke a
      // key: a key is then remembered for a second at most, so every instance refuses it within one.
      cacheTtlMs: opened.shared ? undefined : unsharedKeyCacheTtlMs,
    }),
    assets: createNodeAssets(),
    isDraining: () => draining,
    clientSignal: nodeClientSignal,
    streamBody: nodeStreamBody,
    // One call, no `Hash` object (Node >= 20.12): about a third less than `createHash` for a short text.
    sha256Hex: (text) => hash('sha256', text, 'hex'),
    backgroundPoller,
    modelVersions,
  }
  return {
    deps,
    config,
    masterKey,
    startDraining: () => {
      draining = true
    },
    settleDeferred: async () => {
      await Promise.all(deferred)
    },
    pendingDeferred: () => deferred.size,
    flushLog,
    discard: async () => {
      await backgroundPoller.close()
      await modelVersionSync?.close()
      await providers.close()
      await closeTransports()
      await closeStores()
      flushLog()
      process.off('exit', flushLog)
    },
  }
}
