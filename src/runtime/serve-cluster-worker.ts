/**
 * One worker of `gatehouse serve --workers N`, forked by the primary (`serve-cluster.ts`), which runs the same
 * command line again: the gateway starts as a single process does (`startNodeServer`), and its `listen` goes through
 * `node:cluster`, so every worker shares the primary's port. It tells the primary when it listens, or why it could
 * not start, and it shuts down as a single process does (drain, then the usage written, then the stores closed) when
 * the primary asks or a signal reaches it; a second signal ends it at once.
 *
 * The primary's request comes over the IPC channel rather than as a signal: Ctrl-C in a terminal sends SIGINT to
 * every process of the group, and a forwarded signal on top of it would count as the second one.
 * https://nodejs.org/docs/latest-v20.x/api/cluster.html
 */
import cluster from 'node:cluster'
import { startNodeServer, type NodeServer, type NodeServerOptions } from './node.ts'
import { StartupError } from './startup-error.ts'

/** What a worker tells the primary. */
export type WorkerMessage =
  | { type: 'gatehouse:listening'; url: string }
  | { type: 'gatehouse:startup-failed'; errors: string[] }

/** What the primary tells a worker. */
export type PrimaryMessage = { type: 'gatehouse:shutdown' }

/** Whether this process is a worker the primary forked (`node:cluster` sets `NODE_UNIQUE_ID` in its environment). */
export const isClusterWorker = (): boolean => cluster.isWorker

const send = (message: WorkerMessage): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })

const isShutdownRequest = (message: unknown): message is PrimaryMessage =>
  (message as PrimaryMessage | null)?.type === 'gatehouse:shutdown'

/** Serves until asked to stop, then exits the process: 0 after a clean shutdown, 1 otherwise. */
export const runClusterWorker = async (
  options: Pick<NodeServerOptions, 'env' | 'cwd'>
): Promise<void> => {
  let server: NodeServer | undefined
  let stopRequested = false
  let stopping: Promise<void> | undefined
  const stop = (): void => {
    stopRequested = true
    if (server === undefined || stopping !== undefined) return
    stopping = server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`gatehouse worker ${process.pid}: shutdown failed:`, error)
        process.exit(1)
      }
    )
  }
  // Listening before the server starts: a shutdown asked for meanwhile waits for the start, then stops it.
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1
    if (signals > 1) {
      console.error(`gatehouse worker ${process.pid}: ${signal} again, exiting without waiting`)
      process.exit(1)
    }
    stop()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  process.on('message', (message: unknown) => {
    if (isShutdownRequest(message)) stop()
  })

  try {
    server = await startNodeServer({ ...options, sharedStdout: true })
  } catch (error) {
    const errors =
      error instanceof StartupError
        ? [...error.errors]
        : [error instanceof Error ? (error.stack ?? error.message) : String(error)]
    await send({ type: 'gatehouse:startup-failed', errors })
    process.exit(1)
  }
  await send({ type: 'gatehouse:listening', url: server.url })
  if (stopRequested) stop()
}
