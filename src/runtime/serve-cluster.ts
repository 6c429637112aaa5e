/**
 * `gatehouse serve --workers N`: N gateway processes on one port, with `node:cluster`. This primary serves nothing
 * itself: it checks the config, refuses what N processes cannot do, resolves the master key and migrates the database
 * once, then forks the workers (`serve-cluster-worker.ts`, each the same command line run again) and supervises them.
 *
 * - Without Redis, more than one worker is refused: rate limits, budgets and revocations would each be kept in one
 *   process, so every limit would hold N times over and a revoked key would keep working on the other workers.
 * - The master key is resolved here, before any worker starts: a generated key is written once, and every worker
 *   reads that file (a configured key reaches them through the same environment).
 * - Connections are spread by the primary, round-robin (`cluster.schedulingPolicy`, the default except on Windows).
 * - A worker that exits unasked is forked again, after `workerRestartDelayMs` (doubling while it keeps failing soon
 *   after its start). One that fails during the start fails the start: the others are stopped and its errors shown.
 * - `close()` (SIGTERM, SIGINT) asks every worker to shut down as a single process does (drain, usage written, stores
 *   closed) and resolves once all have exited; it rejects when one did not exit cleanly.
 * https://nodejs.org/docs/latest-v20.x/api/cluster.html
 */
import cluster, { type Worker } from 'node:cluster'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../core/logger.ts'
import type { ResolvedConfig } from '../core/resolve-config.ts'
import { parseDatabaseUrl } from '../stores/sql/open-sql-database.ts'
import { createJsonLogger } from './json-logger.ts'
import { loadNodeConfig } from './load-node-config.ts'
import { resolveMasterKey, type ResolvedMasterKey } from './master-key.ts'
import { withServeNodeFlags } from './serve-node-flags.ts'
import { openMigratedDatabase } from './open-migrated-database.ts'
import type { PrimaryMessage, WorkerMessage } from './serve-cluster-worker.ts'
import { StartupError } from './startup-error.ts'

export { isClusterWorker, runClusterWorker } from './serve-cluster-worker.ts'
export { parseWorkerCount, WorkerCountError } from './parse-worker-count.ts'

export type ServeClusterOptions = {
  env: Record<string, string | undefined>
  cwd: string
  /** How many workers; 2 or more (one is a plain `startNodeServer`). */
  workers: number
}

export type ServeCluster = {
  url: string
  /** How the master key was obtained; the CLI shows a generated key once. */
  masterKey: ResolvedMasterKey
  /** Graceful shutdown of every worker (module doc); idempotent. */
  close(): Promise<void>
}

/** A worker that ran this long before it exited starts its back-off again from the first delay. */
const stableAfterMs = 30_000

/** The wait before forking a worker again after its `failures`-th exit in a row: 250 ms, doubling, at most 30 s. */
export const workerRestartDelayMs = (failures: number): number =>
  Math.min(250 * 2 ** Math.max(failures - 1, 0), 30_000)

/** What N processes cannot do; empty when the config can be served by `workers` workers. */
export const clusterRefusals = (options: {
  config: ResolvedConfig
  workers: number
  cwd: string
}): string[] => {
  const { config, workers, cwd } = options
  const refusals: string[] = []
  if (config.redis.url === null)
    refusals.push(
      `--workers ${workers}: more than one worker needs Redis (set REDIS_URL or redis.url). Without it each ` +
        'worker keeps its own rate limits, budgets and key revocations: every limit would be allowed once per ' +
        'worker, and a revoked key would keep working on the workers that did not see the revocation.'
    )
  if (config.database.url !== null) {
    try {
      const location = parseDatabaseUrl(config.database.url, cwd)
      if (location.dialect === 'sqlite' && location.file === ':memory:')
        refusals.push(
          `--workers ${workers}: database.url is an in-memory SQLite database, which each worker would have to ` +
            'itself: use a SQLite file or PostgreSQL.'
        )
    } catch {
      // A URL that names no database is reported when the database is opened.
    }
  }
  return refusals
}

type Slot = {
  worker: Worker | null
  listening: boolean
  startedAt: number
  /** Exits in a row, each soon after its start. */
  failures: number
  restart: ReturnType<typeof setTimeout> | null
  startupErrors: string[] | null
}

type Phase = 'starting' | 'running' | 'stopping'

const describeExit = (code: number | null, signal: string | null): string =>
  signal === null ? `code ${code}` : `signal ${signal}`

/**
 * Forks and supervises `count` workers; resolves once every one listens, with the URL they share. Rejects with
 * `StartupError` when one fails to start, after the others have exited.
 */
const superviseWorkers = (options: {
  env: Record<string, string | undefined>
  count: number
  logger: Logger
  /** After this long a worker that has not exited since it was asked to is killed. */
  forceExitAfterMs: number
}): Promise<{ url: string; close(): Promise<void> }> => {
  const { env, count, logger } = options
  let phase: Phase = 'starting'
  let url: string | undefined
  const slots: Slot[] = Array.from({ length: count }, () => ({
    worker: null,
    listening: false,
    startedAt: 0,
    failures: 0,
    restart: null,
    startupErrors: null,
  }))
  const unclean: string[] = []
  let allExited: () => void = () => {}
  const exited = new Promise<void>((resolve) => (allExited = resolve))
  let started: (url: string) => void = () => {}
  let failedToStart: (error: Error) => void = () => {}
  const start = new Promise<string>((resolve, reject) => {
    started = resolve
    failedToStart = reject
  })

  const workerEnv: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) if (value !== undefined) workerEnv[name] = value

  const checkAllExited = (): void => {
    if (phase === 'stopping' && slots.every((slot) => slot.worker === null)) allExited()
  }

  const stopAll = (): void => {
    phase = 'stopping'
    for (const slot of slots) {
      if (slot.restart !== null) clearTimeout(slot.restart)
      slot.restart = null
      const worker = slot.worker
      if (worker === null) continue
      const request: PrimaryMessage = { type: 'gatehouse:shutdown' }
      // Without its IPC channel (a worker on its way out), a signal asks the same.
      if (!worker.isConnected()) worker.process.kill('SIGTERM')
      else
        worker.send(request, (error: Error | null) => {
          if (error !== null) worker.process.kill('SIGTERM')
        })
      const force = setTimeout(() => {
        logger.error(
          { worker: worker.process.pid, waitedMs: options.forceExitAfterMs },
          'worker did not exit after shutdown; killing it'
        )
        worker.process.kill('SIGKILL')
      }, options.forceExitAfterMs)
      force.unref()
      worker.once('exit', () => clearTimeout(force))
    }
    checkAllExited()
  }

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null): void => {
    slot.worker = null
    const wasListening = slot.listening
    slot.listening = false
    const pid = worker.process.pid
    if (phase === 'starting') {
      const errors = slot.startupErrors ?? [
        `worker ${pid} exited (${describeExit(code, signal)}) before ${wasListening ? 'the others listened' : 'it listened'}`,
      ]
      stopAll()
      void exited.then(() => failedToStart(new StartupError(errors)))
      return
    }
    if (phase === 'stopping') {
      if (code !== 0) unclean.push(`worker ${pid} exited with ${describeExit(code, signal)}`)
      checkAllExited()
      return
    }
    const ranMs = Date.now() - slot.startedAt
    slot.failures = wasListening && ranMs >= stableAfterMs ? 1 : slot.failures + 1
    const delayMs = workerRestartDelayMs(slot.failures)
    logger.error(
      { worker: pid, code, signal, ranMs, restartInMs: delayMs },
      'worker exited; starting another'
    )
    slot.restart = setTimeout(() => {
      slot.restart = null
      if (phase === 'running') fork(slot)
    }, delayMs)
  }

  // Workers run with the flags `npm start` gives a single process, whatever the primary was started with.
  cluster.setupPrimary({ execArgv: withServeNodeFlags(process.execArgv, env.NODE_OPTIONS) })
  const fork = (slot: Slot): void => {
    const worker = cluster.fork(workerEnv)
    slot.worker = worker
    slot.listening = false
    slot.startedAt = Date.now()
    slot.startupErrors = null
    worker.on('message', (message: WorkerMessage) => {
      if (message?.type === 'gatehouse:startup-failed') {
        slot.startupErrors = message.errors
        if (phase === 'running')
          logger.error(
            { worker: worker.process.pid, errors: message.errors },
            'worker could not start'
          )
      } else if (message?.type === 'gatehouse:listening') {
        slot.listening = true
        url ??= message.url
        if (phase === 'starting' && slots.every((each) => each.listening)) {
          phase = 'running'
          started(url)
        } else if (phase === 'running')
          logger.info({ worker: worker.process.pid }, 'worker started again')
      }
    })
    worker.on('exit', (code, signal) => onExit(slot, worker, code, signal))
  }

  for (const slot of slots) fork(slot)
  return start.then((listeningUrl) => {
    let closing: Promise<void> | undefined
    return {
      url: listeningUrl,
      close: () =>
        (closing ??= (async () => {
          stopAll()
          await exited
          if (unclean.length > 0) throw new Error(unclean.join('; '))
        })()),
    }
  })
}

/** Rejects with `StartupError` listing what stops the config from being served, or why a worker could not start. */
export const startServeCluster = async (options: ServeClusterOptions): Promise<ServeCluster> => {
  const { env, cwd, workers } = options
  const { config, logLevel } = loadNodeConfig({ env, cwd })
  const refusals = clusterRefusals({ config, workers, cwd })
  if (refusals.length > 0) throw new StartupError(refusals)

  let masterKey: ResolvedMasterKey
  try {
    masterKey = resolveMasterKey({ configured: config.masterKey, dataDir: join(cwd, 'data') })
  } catch (error) {
    throw new StartupError([`auth.masterKey: ${(error as Error).message}`])
  }
  const logger = createJsonLogger({
    level: logLevel,
    secrets: [masterKey.key],
    base: { pid: process.pid },
  })
  try {
    const database = await openMigratedDatabase({ config, cwd, logger })
    await database.close()
    logger.info({ workers }, 'starting workers')
    const supervised = await superviseWorkers({
      env,
      count: workers,
      logger,
      forceExitAfterMs: 2 * config.server.drainTimeoutMs + 60_000,
    })
    return { url: supervised.url, masterKey, close: supervised.close }
  } catch (error) {
    // A key nobody was shown must not survive a failed start: the next start would only print its path.
    if (masterKey.generated && masterKey.file !== undefined) rmSync(masterKey.file, { force: true })
    throw error
  }
}
