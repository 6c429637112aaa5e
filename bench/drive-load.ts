/**
 * The parent's handle on the load generator: one long-lived process on core 1 (see `load-worker.ts`), started once
 * per benchmark so that every run pays autocannon's start-up only once, and fed one job at a time.
 */
import { fileURLToPath } from 'node:url'
import type { LoadRun, LoadWorkerMessage, WorkerJob } from './load-worker.ts'
import { readJsonLine, spawnPinned, stopChild } from './spawn-pinned.ts'

const workerPath = fileURLToPath(new URL('./load-worker.ts', import.meta.url))

export type LoadGenerator = {
  readonly pid: number
  run(job: WorkerJob): Promise<LoadRun>
  stop(): Promise<void>
}

export const startLoadGenerator = async (options: { cwd: string }): Promise<LoadGenerator> => {
  const child = spawnPinned({
    nodeArgs: ['--import', 'tsx', workerPath],
    core: 1,
    cwd: options.cwd,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  try {
    await readJsonLine<{ ready: true }>(child, 20_000)
  } catch (error) {
    await stopChild(child)
    throw error
  }
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4_000)
  })
  return {
    pid: child.pid as number,
    run: (job) =>
      new Promise<LoadRun>((resolve, reject) => {
        const onMessage = (message: LoadWorkerMessage): void => {
          cleanup()
          if (message.type === 'result') resolve(message.result)
          else reject(new Error(`load generator: ${message.message}`))
        }
        const onExit = (code: number | null, signal: string | null): void => {
          cleanup()
          reject(
            new Error(
              `the load generator exited (${signal ?? `code ${code}`}) during a run${stderr === '' ? '' : `:\n${stderr}`}`
            )
          )
        }
        const budgetMs = (job.warmupSeconds + job.durationSeconds) * 1_000 + 30_000
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`the load generator did not finish a run within ${budgetMs} ms`))
        }, budgetMs)
        const cleanup = (): void => {
          clearTimeout(timer)
          child.off('message', onMessage)
          child.off('exit', onExit)
        }
        child.on('message', onMessage)
        child.once('exit', onExit)
        child.send({ type: 'run', job })
      }),
    stop: () => stopChild(child),
  }
}
