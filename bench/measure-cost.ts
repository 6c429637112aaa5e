/**
 * `node --import tsx bench/measure-cost.ts [plain|stream|stream-no-usage] [requests]`: what one request costs the
 * gateway and the reference proxy, as CPU time and instructions per request, with a fixed number of requests (not a
 * fixed time). Unlike the throughput ratios of `run-bench.ts`, these figures hold on a busy machine (other processes
 * change how long a request waits, much less what it costs), so a change to the hot path can be judged while other
 * work runs. CPU time (user and system, all threads) comes from `/proc/<pid>/stat`; `MEASURE_ATTACH` attaches a
 * tool to each target for the measured batch (`MEASURE_ATTACH='strace -c -f -p {pid}'` counts system calls).
 *
 * Each target gets a warm-up of the same size first (so that the JIT has settled), then the measured requests in
 * `MEASURE_ROUNDS` (default 5) interleaved batches, at 64 connections, through autocannon in this process: a machine
 * whose speed drifts weighs on both targets alike. Both targets run over the same mock, as in `npm run bench`.
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon, { type AutocannonResult } from 'autocannon'
import { benchSettings, chatRequestBody } from './bench-settings.ts'
import { readCpuSeconds } from './read-cpu-seconds.ts'
import { prepareBenchStores } from './prepare-bench-stores.ts'
import { startBenchProcesses } from './start-bench-processes.ts'

type Kind = 'plain' | 'stream' | 'stream-no-usage'
const kind = (process.argv[2] ?? 'plain') as Kind
if (!['plain', 'stream', 'stream-no-usage'].includes(kind))
  throw new Error(`kind is plain, stream or stream-no-usage, got ${process.argv[2]}`)
const requests = Number(process.argv[3] ?? 20_000)
if (!Number.isSafeInteger(requests) || requests <= 0)
  throw new Error(`requests is a positive integer, got ${process.argv[3]}`)

const body = chatRequestBody({ stream: kind !== 'plain', includeUsage: kind === 'stream' })

const drive = async (url: string, key: string, amount: number): Promise<AutocannonResult> =>
  await autocannon({
    url: `${url}/v1/chat/completions`,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
    connections: 64,
    amount,
  })

/**
 * `MEASURE_ATTACH`, a command with `{pid}` in it (`strace -c -f -p {pid}`, `perf stat -p {pid}`), attached to the
 * target for the measured batch and stopped with SIGINT after it; what it prints is passed through.
 */
const attach = (pid: number) => {
  const command = process.env.MEASURE_ATTACH
  if (command === undefined || command === '') return { stop: async () => '' }
  const [file, ...args] = command.replaceAll('{pid}', String(pid)).split(' ')
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve())
    child.once('error', (error) => {
      output += String(error)
      resolve()
    })
  })
  return {
    async stop(): Promise<string> {
      child.kill('SIGINT')
      await exited
      return output
    },
  }
}

/** CPU seconds of each thread of `pid` (`/proc/<pid>/task/<tid>/stat`), by thread id, with the thread's name. */
const threadSeconds = (pid: number): Map<string, { name: string; seconds: number }> => {
  const threads = new Map<string, { name: string; seconds: number }>()
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      threads.set(tid, { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 })
    }
  } catch {
    // Not Linux, or the process is gone: no breakdown.
  }
  return threads
}

type Target = { name: string; url: string; pid: number; key: string }
type Tally = {
  cpuSeconds: number
  threads: Map<string, { name: string; seconds: number }>
  attachedOutput: string
}

/** One measured batch of `amount` requests against `target`, added to its tally. */
const measureBatch = async (target: Target, amount: number, tally: Tally): Promise<void> => {
  const attached = attach(target.pid)
  if (process.env.MEASURE_ATTACH) await new Promise((resolve) => setTimeout(resolve, 500))
  const before = readCpuSeconds(target.pid) ?? 0
  const threadsBefore = threadSeconds(target.pid)
  const result = await drive(target.url, target.key, amount)
  const after = readCpuSeconds(target.pid) ?? 0
  for (const [tid, { name, seconds }] of threadSeconds(target.pid)) {
    const spent = seconds - (threadsBefore.get(tid)?.seconds ?? 0)
    const entry = tally.threads.get(tid) ?? {
      name: `${name}${tid === String(target.pid) ? ' (main)' : ''}`,
      seconds: 0,
    }
    entry.seconds += spent
    tally.threads.set(tid, entry)
  }
  tally.cpuSeconds += after - before
  tally.attachedOutput += await attached.stop()
  const answered = result['2xx']
  if (answered !== amount || result.errors > 0 || result.non2xx > 0)
    throw new Error(
      `${target.name}: ${answered} of ${amount} answered, ${result.errors} errors, ${result.non2xx} non-2xx`
    )
}

/**
 * Warms both targets, then measures them in `rounds` interleaved batches (reference, gateway; then gateway,
 * reference...), so that a machine whose speed drifts over tens of seconds weighs on both alike.
 */
const measureInterleaved = async (targets: readonly [Target, Target], rounds: number) => {
  for (const target of targets) await drive(target.url, target.key, requests)
  const tallies = targets.map(() => ({ cpuSeconds: 0, threads: new Map(), attachedOutput: '' }))
  const perRound = Math.ceil(requests / rounds)
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0]
    for (const index of order) await measureBatch(targets[index], perRound, tallies[index])
  }
  const measured = perRound * rounds
  return targets.map((target, index) => {
    const tally = tallies[index]
    const threads = [...tally.threads.values()]
      .map(({ name, seconds }) => ({ name, micros: (seconds * 1e6) / measured }))
      .filter((thread) => thread.micros >= 1)
      .sort((a, b) => b.micros - a.micros)
    return {
      name: target.name,
      cpuMicros: (tally.cpuSeconds * 1e6) / measured,
      threads,
      attachedOutput: tally.attachedOutput,
    }
  })
}

// The gateway's usage store in a fresh temporary folder (never the checkout's `./data/`), removed at the end.
const stores = await prepareBenchStores({ redis: false, database: 'sqlite' })
const processes = await startBenchProcesses({
  gatewayEnv: stores.env,
  gatewayConfig: stores.config,
  gatewayLogPath: join(tmpdir(), `gatehouse-measure-cost-${process.pid}.log`),
  gatewayNodeOptions: process.env.BENCH_GATEWAY_NODE_FLAGS?.split(' ').filter(Boolean),
  referenceNodeOptions: process.env.BENCH_REFERENCE_NODE_FLAGS?.split(' ').filter(Boolean),
})
try {
  const rounds = Number(process.env.MEASURE_ROUNDS ?? 5)
  if (!Number.isSafeInteger(rounds) || rounds <= 0)
    throw new Error(`MEASURE_ROUNDS is a positive integer, got ${process.env.MEASURE_ROUNDS}`)
  const [reference, gateway] = await measureInterleaved(
    [
      { name: 'reference', url: processes.reference.url, pid: processes.reference.pid, key: 'any' },
      {
        name: 'gateway',
        url: processes.gateway.url,
        pid: processes.gateway.pid,
        key: benchSettings.masterKey,
      },
    ],
    rounds
  )
  for (const row of [reference, gateway]) {
    if (row.attachedOutput !== '')
      console.log(`--- ${row.name}: ${process.env.MEASURE_ATTACH}\n${row.attachedOutput}`)
    const threads = row.threads
      .map((thread) => `${thread.name} ${thread.micros.toFixed(1)}`)
      .join(', ')
    console.log(
      `${row.name.padEnd(10)} ${kind}: ${row.cpuMicros.toFixed(1)} µs CPU per request (threads: ${threads})`
    )
  }
  const ratio = gateway.cpuMicros / reference.cpuMicros
  console.log(
    `gateway/reference: CPU per request ${ratio.toFixed(2)} (a throughput ratio of about ${(1 / ratio).toFixed(2)})`
  )
} finally {
  await processes.stop()
  await stores.cleanup()
}
