/**
 * Local model workers that a test can crash the way a bug would: an exception nobody catches, thrown in the worker
 * between two generation steps, which ends the thread (the pool sees `error`, then `exit` with code 1). Ending one
 * with `Worker.terminate()` instead is not a crash the process survives: a thread stopped inside onnxruntime aborts
 * the whole process. The worker is the real one (`providers/local/local-model-worker.ts`), loaded after a listener
 * on a `BroadcastChannel` that throws when asked to, by thread id.
 */
import { Worker } from 'node:worker_threads'
import type { LocalWorkerData } from '../../providers/local/local-worker-messages.ts'
import { localWorkerBootUrl } from './local-worker-boot.ts'

const channelName = 'gatehouse-test-local-worker-crash'

const bootUrl = (): URL =>
  localWorkerBootUrl([
    `import { threadId } from 'node:worker_threads'`,
    `const channel = new BroadcastChannel(${JSON.stringify(channelName)})`,
    'channel.unref()',
    'channel.onmessage = (event) => {',
    '  if (event.data !== threadId) return',
    "  setImmediate(() => { throw new Error('a simulated crash of a local model worker') })",
    '}',
  ])

/** A `spawn` for the local worker pool whose workers `crashLocalWorker` can crash; `started` gets each one. */
export const crashableLocalWorkers = (started: Worker[]) => {
  const url = bootUrl()
  return (_entry: URL, workerData: LocalWorkerData): Worker => {
    const worker = new Worker(url, { workerData })
    started.push(worker)
    return worker
  }
}

/** Makes `worker` throw an uncaught exception at its next turn (between two steps of a generation). */
export const crashLocalWorker = (worker: Worker): void => {
  const channel = new BroadcastChannel(channelName)
  channel.postMessage(worker.threadId)
  channel.close()
}
