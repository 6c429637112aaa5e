/**
 * `node --import tsx bench/measure-stream-heap.ts [streams] [--usage] [--top K]`: what one open stream holds in the
 * gateway and in the reference proxy, from heap snapshots of each (after a full collection) with none and with
 * `streams` (default 400) open. A paced scenario's scavenges copy mostly what the streams begun since the last one
 * hold, so this says where the length of a pause comes from (docs/benchmark.md, 2026-12-08, early morning).
 *
 * The processes are the benchmark's (`startBenchProcesses`: the built gateway as shipped, the reference, the mock);
 * each stream is a chat completion the mock paces at one chunk every 200 ms for far longer than the measurement, on a
 * connection of its own, so the connection's objects are counted too (a paced run's kept-alive connections make them
 * once). `--usage` asks for `stream_options.include_usage`. The snapshots are written under a temporary folder
 * (`--heapsnapshot-signal`, `--diagnostic-dir`) and removed.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { benchSettings } from './bench-settings.ts'
import { prepareBenchStores } from './prepare-bench-stores.ts'
import { formatHeapPerUnit, heapPerUnit, readHeapSnapshotFile } from './read-heap-snapshot.ts'
import type { HeapKinds } from './read-heap-snapshot.ts'
import { startBenchProcesses } from './start-bench-processes.ts'

const args = process.argv.slice(2)
const streams = Number(args.find((arg) => /^\d+$/.test(arg)) ?? 400)
const usage = args.includes('--usage')
const topAt = args.indexOf('--top')
const top = topAt === -1 ? 30 : Number(args[topAt + 1])

const directory = mkdtempSync(join(tmpdir(), 'gatehouse-stream-heap-'))
const snapshotFlags = ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${directory}`]

/** Signals `pid` and waits for its snapshot to be written whole (the file stops growing), then reads it. */
const snapshotOf = async (pid: number): Promise<HeapKinds> => {
  const seen = new Set(readdirSync(directory))
  process.kill(pid, 'SIGUSR2')
  for (let waited = 0; waited < 120_000; waited += 250) {
    await sleep(250)
    const file = readdirSync(directory).find(
      (name) => name.endsWith('.heapsnapshot') && !seen.has(name)
    )
    if (file === undefined) continue
    const path = join(directory, file)
    // Written in pieces: read once it parses.
    for (let tries = 0; tries < 200; tries += 1) {
      try {
        const kinds = readHeapSnapshotFile(path)
        rmSync(path)
        return kinds
      } catch {
        await sleep(250)
      }
    }
  }
  throw new Error(`no heap snapshot from ${pid}`)
}

const body = JSON.stringify({
  model: benchSettings.model,
  messages: [{ role: 'user', content: 'Say hello' }],
  stream: true,
  ...(usage ? { stream_options: { include_usage: true } } : {}),
  metadata: { bench_chunks: '100000', bench_interval_ms: '200' },
})

/** Opens `count` streams to `url`, resolved once each has sent its first bytes; returns what closes them. */
const openStreams = async (url: string, key: string, count: number): Promise<() => void> => {
  const agent = new Agent({ connections: null })
  const controllers = Array.from({ length: count }, () => new AbortController())
  await Promise.all(
    controllers.map(async (controller) => {
      const response = await request(`${url}/v1/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        signal: controller.signal,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      })
      if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`)
      response.body.on('error', () => {})
      await new Promise((resolve) => response.body.once('data', resolve))
    })
  )
  return () => {
    for (const controller of controllers) controller.abort()
    void agent.destroy()
  }
}

const stores = await prepareBenchStores({ redis: false, database: 'sqlite' })
const processes = await startBenchProcesses({
  gatewayLogPath: join(directory, 'gateway.log'),
  gatewayNodeOptions: snapshotFlags,
  referenceNodeOptions: snapshotFlags,
  gatewayEnv: stores.env,
  gatewayConfig: stores.config,
})
try {
  for (const [name, target, key] of [
    ['reference', processes.reference, 'unused'],
    ['gateway', processes.gateway, benchSettings.masterKey],
  ] as const) {
    // A few streams first, so that what the first stream makes once (JIT, pools) is in both snapshots.
    const closeWarm = await openStreams(target.url, key, 50)
    await sleep(2_000)
    closeWarm()
    await sleep(2_000)
    const before = await snapshotOf(target.pid)
    const close = await openStreams(target.url, key, streams)
    await sleep(2_000)
    const after = await snapshotOf(target.pid)
    close()
    console.log(`\n${name}, ${streams} streams open${usage ? ' (include_usage)' : ''}`)
    console.log(formatHeapPerUnit(heapPerUnit(before, after, streams), top).join('\n'))
    await sleep(1_000)
  }
} finally {
  await processes.stop()
  await stores.cleanup()
  rmSync(directory, { recursive: true, force: true })
}
