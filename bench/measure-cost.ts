/**
 * `node --import tsx bench/measure-cost.ts [plain|plain-tenant|stream|stream-no-usage] [requests]`: what one request
 * costs the gateway and the reference proxy, as CPU time and instructions per request, with a fixed number of requests
 * (not a fixed time). Unlike the throughput ratios of `run-bench.ts`, these figures hold on a busy machine (other processes
 * change how long a request waits, much less what it costs), so a change to the hot path can be judged while other
 * work runs. CPU time (user and system, all threads) comes from `/proc/<pid>/stat`; `MEASURE_ATTACH` attaches a
 * tool to each target for the measured batch (`MEASURE_ATTACH='strace -c -f -p {pid}'` counts system calls).
 *
 * Each target gets a warm-up of the same size first (so that the JIT has settled), then the measured batch, at 64
 * connections, through autocannon in this process. Both targets run over the same mock, as in `npm run bench`.
 *
 * `plain-tenant` runs the gateway as the tenant scenarios of `npm run bench` do (Redis and SQLite, a tenant key with
 * requests and tokens per minute and a monthly budget on the key and its tenant: `create-bench-tenant.ts`), and
 * measures it twice, with the master key and with the tenant key, so that the difference is what the accounting
 * costs. For the tenant key it also reports Redis's share: the server's CPU time per request (read from `/proc` when
 * Redis runs on this machine: the whole server's, other clients' included), and from `INFO commandstats` the scripts
 * run per request and their time. `GATEHOUSE_TEST_REDIS_URL` points it at a Redis of its own, away from other work;
 * `BENCH_REDIS_TIMEOUT_MS` sets the gateway's `redis.timeoutMs` (it fails closed, as in the benchmark).
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon, { type AutocannonResult } from 'autocannon'
import { connectRawRedis } from '../test/contract/connect-raw-redis.ts'
import { benchSettings, chatRequestBody } from './bench-settings.ts'
import { createBenchTenant } from './create-bench-tenant.ts'
import { readCpuSeconds } from './read-cpu-seconds.ts'
import { prepareBenchStores } from './prepare-bench-stores.ts'
import { startBenchProcesses } from './start-bench-processes.ts'
import { storeServiceUrl } from '../test/contract/check-store-service.ts'

const kinds = ['plain', 'plain-tenant', 'stream', 'stream-no-usage'] as const
type Kind = (typeof kinds)[number]
const kind = (process.argv[2] ?? 'plain') as Kind
if (!kinds.includes(kind)) throw new Error(`kind is ${kinds.join(', ')}, got ${process.argv[2]}`)
const tenantKind = kind === 'plain-tenant'
const requests = Number(process.argv[3] ?? 20_000)
if (!Number.isSafeInteger(requests) || requests <= 0)
  throw new Error(`requests is a positive integer, got ${process.argv[3]}`)

const body = chatRequestBody({
  stream: kind.startsWith('stream'),
  includeUsage: kind === 'stream',
})

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

/** Redis's cumulative script figures (`INFO commandstats`): calls and microseconds of EVALSHA and EVAL. */
const readScriptStats = async (): Promise<{ calls: number; micros: number }> => {
  const redis = await connectRawRedis({ url: storeServiceUrl('redis') })
  try {
    const info = String(await redis.command('INFO', 'commandstats'))
    let calls = 0
    let micros = 0
    for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
      calls += Number(match[1])
      micros += Number(match[2])
    }
    return { calls, micros }
  } finally {
    await redis.close()
  }
}

/** What Redis spent on the measured batch: its process's CPU time and its scripts' figures, per request. */
type RedisShare = { cpuMicros: number | null; scripts: number; scriptMicros: number }

const measure = async (
  name: string,
  url: string,
  pid: number,
  key: string,
  redisPid: number | null = null
) => {
  await drive(url, key, requests)
  const attached = attach(pid)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const redisBefore = redisPid === null ? null : readCpuSeconds(redisPid)
  const scriptsBefore = tenantKind ? await readScriptStats() : null
  const before = readCpuSeconds(pid) ?? 0
  const threadsBefore = threadSeconds(pid)
  const result = await drive(url, key, requests)
  const after = readCpuSeconds(pid) ?? 0
  const redisAfter = redisPid === null ? null : readCpuSeconds(redisPid)
  const scriptsAfter = tenantKind ? await readScriptStats() : null
  const redis: RedisShare | null =
    scriptsBefore === null || scriptsAfter === null
      ? null
      : {
          cpuMicros:
            redisBefore === null || redisAfter === null
              ? null
              : ((redisAfter - redisBefore) * 1e6) / requests,
          scripts: (scriptsAfter.calls - scriptsBefore.calls) / requests,
          scriptMicros: (scriptsAfter.micros - scriptsBefore.micros) / requests,
        }
  const threads = [...threadSeconds(pid)]
    .map(([tid, { name, seconds }]) => ({
      name: `${name}${tid === String(pid) ? ' (main)' : ''}`,
      micros: ((seconds - (threadsBefore.get(tid)?.seconds ?? 0)) * 1e6) / requests,
    }))
    .filter((thread) => thread.micros >= 1)
    .sort((a, b) => b.micros - a.micros)
  const attachedOutput = await attached.stop()
  const answered = result['2xx']
  if (answered !== requests || result.errors > 0 || result.non2xx > 0)
    throw new Error(
      `${name}: ${answered} of ${requests} answered, ${result.errors} errors, ${result.non2xx} non-2xx`
    )
  return { name, cpuMicros: ((after - before) * 1e6) / requests, threads, attachedOutput, redis }
}

// The gateway's usage store in a fresh temporary folder (never the checkout's `./data/`), removed at the end.
const stores = await prepareBenchStores({
  redis: tenantKind,
  database: 'sqlite',
  redisTimeoutMs:
    process.env.BENCH_REDIS_TIMEOUT_MS === undefined
      ? undefined
      : Number(process.env.BENCH_REDIS_TIMEOUT_MS),
})
const processes = await startBenchProcesses({
  gatewayEnv: stores.env,
  gatewayLogPath: join(tmpdir(), `gatehouse-measure-cost-${process.pid}.log`),
  gatewayNodeOptions: process.env.BENCH_GATEWAY_NODE_FLAGS?.split(' ').filter(Boolean),
  referenceNodeOptions: process.env.BENCH_REFERENCE_NODE_FLAGS?.split(' ').filter(Boolean),
})
try {
  const reference = await measure(
    'reference',
    processes.reference.url,
    processes.reference.pid,
    'any'
  )
  const gateway = await measure(
    'gateway',
    processes.gateway.url,
    processes.gateway.pid,
    benchSettings.masterKey
  )
  const tenant = tenantKind
    ? await measure(
        'tenant key',
        processes.gateway.url,
        processes.gateway.pid,
        (
          await createBenchTenant({
            url: processes.gateway.url,
            masterKey: benchSettings.masterKey,
          })
        ).key,
        stores.redisPid
      )
    : null
  for (const row of tenant === null ? [reference, gateway] : [reference, gateway, tenant]) {
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
  if (tenant?.redis != null) {
    const { cpuMicros, scripts, scriptMicros } = tenant.redis
    const tenantRatio = tenant.cpuMicros / reference.cpuMicros
    console.log(
      `tenant key/reference: CPU per request ${tenantRatio.toFixed(2)} (a throughput ratio of about ${(1 / tenantRatio).toFixed(2)}, Redis not counted)`
    )
    console.log(
      `tenant key - master key: ${(tenant.cpuMicros - gateway.cpuMicros).toFixed(1)} µs gateway CPU per request`
    )
    console.log(
      `Redis per tenant-key request: ${cpuMicros === null ? 'CPU not readable (not on this machine)' : `${cpuMicros.toFixed(1)} µs CPU`}, ${scripts.toFixed(2)} scripts, ${scriptMicros.toFixed(1)} µs in scripts (${(scriptMicros / Math.max(scripts, 1e-9)).toFixed(1)} µs each)`
    )
  }
} finally {
  await processes.stop()
  await stores.cleanup()
}
