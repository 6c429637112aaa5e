/**
 * Local model workers whose "ready" a test holds back: the real worker (`providers/local/local-model-worker.ts`) loads
 * its models, but the message that tells the pool it has loaded waits until the test opens the gate. A test of a
 * version switch uses it to choose the moment the new version takes over: calls it starts meanwhile still go to the
 * version serving, and are certain to be running or queued there when the switch happens, whatever the machine's speed.
 */
import { Worker } from 'node:worker_threads'
import type { LocalWorkerData } from '../../providers/local/local-worker-messages.ts'
import { localWorkerBootUrl } from './local-worker-boot.ts'

const bootUrl = (channelName: string): URL =>
  localWorkerBootUrl([
    `import { parentPort } from 'node:worker_threads'`,
    `const channel = new BroadcastChannel(${JSON.stringify(channelName)})`,
    'const post = parentPort.postMessage.bind(parentPort)',
    'let held = null',
    'parentPort.postMessage = (message, transfer) => {',
    "  if (message?.type !== 'ready') return post(message, transfer)",
    '  held = [message, transfer]',
    "  channel.postMessage('held')",
    '}',
    'channel.onmessage = (event) => {',
    "  if (event.data !== 'open' || held === null) return",
    '  channel.close()',
    '  post(...held)',
    '}',
  ])

export type LocalWorkerGate = {
  /** A `spawn` for the pool: workers whose data `gated` picks are held; the others start as usual. */
  spawn(entry: URL, workerData: LocalWorkerData): Worker
  /** Every worker started, in order. */
  readonly started: Worker[]
  /** Resolves once a held worker has loaded its models and waits for the gate. */
  held(): Promise<void>
  /** Lets the held worker tell the pool it is ready. */
  open(): void
  close(): void
}

export const createLocalWorkerGate = (
  gated: (workerData: LocalWorkerData) => boolean
): LocalWorkerGate => {
  const channelName = `gatehouse-test-local-worker-gate-${process.pid}-${Math.random()}`
  const url = bootUrl(channelName)
  const channel = new BroadcastChannel(channelName)
  // Node's BroadcastChannel has `unref` (the DOM's type does not): a test that fails never hangs on it.
  ;(channel as unknown as { unref(): void }).unref()
  const started: Worker[] = []
  let whenHeld: (() => void) | null = null
  let heldCount = 0
  channel.onmessage = (event: MessageEvent) => {
    if (event.data !== 'held') return
    heldCount += 1
    whenHeld?.()
  }
  return {
    spawn(entry, workerData) {
      const worker = new Worker(gated(workerData) ? url : entry, { workerData })
      started.push(worker)
      return worker
    },
    started,
    held: () =>
      heldCount > 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            whenHeld = resolve
          }),
    open: () => {
      heldCount = 0
      channel.postMessage('open')
    },
    close: () => channel.close(),
  }
}
