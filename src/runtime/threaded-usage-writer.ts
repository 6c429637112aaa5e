/**
 * Usage writes to SQLite from a worker thread (`usage-writer-worker.ts`), so the synchronous driver never holds the
 * event loop. The usage sink gives it batches as it would give the store; each resolves when the worker has
 * committed it, or rejects with the worker's error (the sink then retries the batch, which the store takes once).
 * Records cross to the thread as rows of values (`usage-record-rows.ts`), much cheaper to copy than objects.
 * The usage retention prunes through it too, so its deletes do not hold the event loop either.
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { UsageRecord, UsageStore } from '../stores/usage-store.ts'
import type { Closable } from '../stores/types.ts'
import { toUsageRecordRow } from './usage-record-rows.ts'
import type { UsageWriterReply, UsageWriterRequest } from './usage-writer-worker.ts'

/**
 * The worker's module beside this one: `.js` once built. Running from source (the tests, `tsx` in development) it is
 * `.ts`, which a worker thread cannot load by itself (`execArgv: ['--import', 'tsx']` is not applied to workers on
 * Node 20): a small ES module registers tsx's loader in the thread first, then imports it.
 */
const workerEntry = (): URL => {
  if (!import.meta.url.endsWith('.ts')) return new URL('./usage-writer-worker.js', import.meta.url)
  const tsxApi = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs')
  const entry = new URL('./usage-writer-worker.ts', import.meta.url)
  const boot = [
    `import { register } from ${JSON.stringify(pathToFileURL(tsxApi).href)}`,
    'register()',
    `await import(${JSON.stringify(entry.href)})`,
  ].join('\n')
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`)
}

export const createThreadedUsageWriter = (options: {
  url: string
  cwd: string
}): Pick<UsageStore, 'record' | 'pruneEvents' | 'pruneHourlyRollups'> & Closable => {
  const worker = new Worker(workerEntry(), { workerData: { url: options.url, cwd: options.cwd } })
  const pending = new Map<
    number,
    { resolve: (deleted: number) => void; reject: (error: Error) => void }
  >()
  let nextId = 1
  let failure: Error | null = null
  const failAll = (error: Error): void => {
    failure = error
    for (const entry of pending.values()) entry.reject(error)
    pending.clear()
  }
  worker.on('message', (reply: UsageWriterReply) => {
    const entry = pending.get(reply.id)
    if (entry === undefined) return
    pending.delete(reply.id)
    if (reply.error === null) entry.resolve(reply.deleted ?? 0)
    else entry.reject(new Error(reply.error))
  })
  worker.on('error', (error) => failAll(error))
  worker.on('exit', (code) => failAll(new Error(`the usage writer thread exited (code ${code})`)))
  // Waiting for batches keeps the process alive; an idle writer does not.
  worker.unref()
  const send = (
    request: UsageWriterRequest extends infer T
      ? T extends unknown
        ? Omit<T, 'id'>
        : never
      : never
  ): Promise<number> => {
    if (failure !== null) return Promise.reject(failure)
    const id = nextId++
    worker.ref()
    return new Promise<number>((resolve, reject) => {
      pending.set(id, { resolve, reject })
      worker.postMessage({ ...request, id } as UsageWriterRequest)
    }).finally(() => {
      if (pending.size === 0) worker.unref()
    })
  }
  return {
    name: 'usage writer thread',
    record: async (events: readonly UsageRecord[]) => {
      await send({ type: 'record', rows: events.map(toUsageRecordRow) })
    },
    pruneEvents: (olderThan, limit) => send({ type: 'prune-events', olderThan, limit }),
    pruneHourlyRollups: (olderThan, limit) => send({ type: 'prune-hourly', olderThan, limit }),
    close: async () => {
      if (failure !== null) return
      await send({ type: 'close' }).catch(() => {})
      await worker.terminate()
    },
  }
}
