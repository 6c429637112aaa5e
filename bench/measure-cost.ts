/**
 * `node --import tsx bench/measure-cost.ts [plain|plain-tenant|stream|stream-no-usage|converted|cache-memory|cache-redis] [requests]`: what one request
 * costs the gateway and the reference proxy, as CPU time per request, with a fixed number of requests
 * (not a fixed time). Unlike the throughput ratios of `run-bench.ts`, these figures hold on a busy machine (other processes
 * change how long a request waits, much less what it costs), so a change to the hot path can be judged while other
 * work runs. CPU time (user and system, all threads) comes from `/proc/<pid>/stat`; `MEASURE_ATTACH` attaches a
 * tool to each target for the measured batch (`MEASURE_ATTACH='strace -c -f -p {pid}'` counts system calls; `perf
 * record ... -p {pid}` samples the kernel and V8's internals too, read by `read-perf-script.ts`, which says how), and
 * `MEASURE_PROMISES=1` counts the promises each target's main thread makes per request (`promise-probe.mjs`; a
 * counting run: the probe's hook makes every promise dearer, so its CPU figures are not the targets' own), and
 * `MEASURE_HEAP=1` the bytes each allocates per request, garbage included, with profiles that say by whom
 * (`heap-sampling-probe.mjs`, `read-heap-profile.ts`).
 *
 * Each target gets a warm-up of the same size first (so that the JIT has settled), then the measured requests in
 * `MEASURE_ROUNDS` (default 5) interleaved batches, at 64 connections, through autocannon in this process: a machine
 * whose speed drifts weighs on every target alike. Both processes run over the same mock, as in `npm run bench`.
 * `MEASURE_RATE` paces them instead (below).
 *
 * `plain-tenant` runs the gateway as the tenant scenarios of `npm run bench` do (Redis and SQLite, a tenant key with
 * requests and tokens per minute and a monthly budget on the key and its tenant: `create-bench-tenant.ts`), and
 * measures it twice, with the master key and with the tenant key, so that the difference is what the accounting
 * costs. For the tenant key it also reports Redis's share: the server's CPU time per request (read from `/proc` when
 * Redis runs on this machine: the whole server's, other clients' included), and from `INFO commandstats` the scripts
 * run per request and their time. `GATEHOUSE_TEST_REDIS_URL` points it at a Redis of its own, away from other work;
 * `BENCH_REDIS_TIMEOUT_MS` sets the gateway's `redis.timeoutMs` (it fails closed, as in the benchmark).
 *
 * `converted` measures what `streaming-converted` of `npm run bench` does: the gateway's conversion of the mock's
 * chat streams, called through the Responses API and through the Messages API (no reference proxy), and the one's
 * CPU per stream over the other's.
 *
 * `cache-memory` and `cache-redis` measure a prompt cache hit as `cache-hit-memory` and `cache-hit-redis` do: a
 * gateway of its own with the cache on for `benchSettings.cachedModel` (the backend's, Redis at
 * `GATEHOUSE_TEST_REDIS_URL`), primed, asked the same request every time (`hit`: the mock must answer none of them),
 * beside the main gateway calling the mock with the same request (`gateway`: no cache on its route) and the mock
 * itself (`direct`: its own CPU per answer).
 */
import { execFileSync, spawn } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon, { type AutocannonResult } from 'autocannon'
import { stringify } from 'yaml'
import { connectRawRedis } from '../test/contract/connect-raw-redis.ts'
import {
  cacheRequestBody,
  fullScenarios,
  requestFor,
  uniqueRequestMarker,
} from './bench-scenarios.ts'
import { benchSettings, chatRequestBody } from './bench-settings.ts'
import { createBenchTenant } from './create-bench-tenant.ts'
import { readCpuSeconds } from './read-cpu-seconds.ts'
import { addAllocations, type Allocations, type HeapProfile } from './read-heap-profile.ts'
import { readJsonLine, spawnPinned, stopChild } from './spawn-pinned.ts'
import { transpileToCache } from './transpile-to-cache.ts'
import { prepareBenchStores } from './prepare-bench-stores.ts'
import { primeCache } from './prime-cache.ts'
import {
  cacheGatewayConfig,
  conversionConfig,
  gcProbe,
  nodeFlagsFromEnv,
  startBenchProcesses,
  startCacheGateway,
  startGateway,
} from './start-bench-processes.ts'
import { serveNodeFlags } from '../src/runtime/serve-node-flags.ts'
import { storeServiceUrl } from '../test/contract/check-store-service.ts'
import { pairedDifference, formatPairedDifference } from './paired-difference.ts'

const kinds = [
  'plain',
  'plain-tenant',
  'stream',
  'stream-no-usage',
  'converted',
  'cache-memory',
  'cache-redis',
] as const
type Kind = (typeof kinds)[number]
const kind = (process.argv[2] ?? 'plain') as Kind
if (!kinds.includes(kind)) throw new Error(`kind is ${kinds.join(', ')}, got ${process.argv[2]}`)
const tenantKind = kind === 'plain-tenant'
const cacheBackend = kind === 'cache-memory' ? 'memory' : kind === 'cache-redis' ? 'redis' : null
const requests = Number(process.argv[3] ?? 20_000)
if (!Number.isSafeInteger(requests) || requests <= 0)
  throw new Error(`requests is a positive integer, got ${process.argv[3]}`)

const body = chatRequestBody({
  stream: kind.startsWith('stream'),
  includeUsage: kind === 'stream',
})

/** What a target is sent: the chat call of `kind`, or (`converted`) the call through another API. */
type TargetRequest = { path: string; headers: Record<string, string>; body: string }

const chatRequest = (key: string): TargetRequest => ({
  path: '/v1/chat/completions',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body,
})

/**
 * `MEASURE_RATE` (requests per second in all) paces the requests, on `MEASURE_CONNECTIONS` (default 8) connections,
 * as the fixed-rate scenarios do: each then arrives alone, and pays what a full-rate batch shares (one wake-up, one
 * usage batch, one write per event-loop turn).
 */
const rate = process.env.MEASURE_RATE === undefined ? undefined : Number(process.env.MEASURE_RATE)
if (rate !== undefined && !(rate > 0))
  throw new Error(`MEASURE_RATE is a positive number, got ${rate}`)

const drive = async (target: Target, amount: number): Promise<AutocannonResult> =>
  await autocannon({
    url: `${target.url}${target.request.path}`,
    method: 'POST',
    headers: target.request.headers,
    body: target.request.body,
    connections:
      rate !== undefined
        ? Number(process.env.MEASURE_CONNECTIONS ?? 8)
        : kind === 'converted'
          ? 32
          : 64,
    ...(rate === undefined ? {} : { overallRate: rate }),
    amount,
  })

/**
 * `MEASURE_ATTACH`, a command with `{pid}` in it (`strace -c -f -p {pid}`, `perf stat -p {pid}`), attached to the
 * target for the measured batch and stopped with SIGINT after it; what it prints is passed through. `{name}` is the
 * target's name with its spaces as dashes, for output files of two targets in one process (`plain-tenant`'s master
 * and tenant keys: `perf record -o /tmp/perf-{name}.data ...`).
 */
const attach = (target: Pick<Target, 'pid' | 'name'>) => {
  const command = process.env.MEASURE_ATTACH
  if (command === undefined || command === '') return { stop: async () => '' }
  const [file, ...args] = command
    .replaceAll('{pid}', String(target.pid))
    .replaceAll('{name}', target.name.replaceAll(' ', '-'))
    .split(' ')
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

/** What Redis spent on the measured requests: its process's CPU time and its scripts' figures, per request. */
type RedisShare = { cpuMicros: number | null; scripts: number; scriptMicros: number }

type Target = {
  name: string
  url: string
  pid: number
  request: TargetRequest
  /** Redis's process, whose share this target's requests are charged with (the tenant key). */
  redis?: { pid: number | null }
  /** Runs under callgrind (`MEASURE_CALLGRIND`): its batches are counted in instructions too. */
  callgrind?: boolean
  /** Has the heap sampling probe (`MEASURE_HEAP`): its batches are profiled by allocation too. */
  heapSampled?: boolean
}
type Tally = {
  cpuSeconds: number
  /** CPU µs a request of each measured batch, round by round (`pairedDifference`). */
  roundMicros: number[]
  /** Promises made in the measured batches (`MEASURE_PROMISES`); `null` without the probe. */
  promises: number | null
  threads: Map<string, { name: string; seconds: number }>
  attachedOutput: string
  redis: { cpuSeconds: number | null; scripts: number; scriptMicros: number }
  /**
   * Instructions of the measured batches (`MEASURE_CALLGRIND`), V8's optimizing compiler's left out (`compiler`); `null`
   * for a target not under callgrind.
   */
  instructions: number | null
  compilerInstructions: number
  /** The heap profiles of its measured batches (`MEASURE_HEAP`), as the probe will have written them. */
  heapFiles: string[]
}

/** One measured batch of `amount` requests against `target`, added to its tally. */
const measureBatch = async (target: Target, amount: number, tally: Tally): Promise<void> => {
  const promisesBefore = await readPromises(target.pid)
  const attached = attach(target)
  if (process.env.MEASURE_ATTACH) await new Promise((resolve) => setTimeout(resolve, 500))
  const redisPid = target.redis?.pid ?? null
  const redisBefore = redisPid === null ? null : readCpuSeconds(redisPid)
  const scriptsBefore = target.redis === undefined ? null : await readScriptStats()
  if (target.callgrind === true) callgrindControl('-z', target.pid)
  const heapFile = target.heapSampled === true ? await startHeapSampling(target.pid) : null
  const before = readCpuSeconds(target.pid) ?? 0
  const threadsBefore = threadSeconds(target.pid)
  const result = await drive(target, amount)
  const after = readCpuSeconds(target.pid) ?? 0
  if (heapFile !== null) {
    process.kill(target.pid, 'SIGUSR2')
    tally.heapFiles.push(heapFile)
  }
  if (target.callgrind === true && tally.instructions !== null) {
    callgrindControl('-d', target.pid)
    const dump = readLastDump(target.pid)
    tally.instructions += dump.total - dump.compiler
    tally.compilerInstructions += dump.compiler
  }
  const redisAfter = redisPid === null ? null : readCpuSeconds(redisPid)
  const scriptsAfter = target.redis === undefined ? null : await readScriptStats()
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
  if (scriptsBefore !== null && scriptsAfter !== null) {
    tally.redis.scripts += scriptsAfter.calls - scriptsBefore.calls
    tally.redis.scriptMicros += scriptsAfter.micros - scriptsBefore.micros
    tally.redis.cpuSeconds =
      redisBefore === null || redisAfter === null || tally.redis.cpuSeconds === null
        ? null
        : tally.redis.cpuSeconds + (redisAfter - redisBefore)
  }
  tally.attachedOutput += await attached.stop()
  const promisesAfter = await readPromises(target.pid)
  tally.promises =
    promisesBefore === null || promisesAfter === null || tally.promises === null
      ? null
      : tally.promises + (promisesAfter - promisesBefore)
  const answered = result['2xx']
  if (answered !== amount || result.errors > 0 || result.non2xx > 0)
    throw new Error(
      `${target.name}: ${answered} of ${amount} answered, ${result.errors} errors, ${result.non2xx} non-2xx`
    )
}

/**
 * Warms every target, then measures them in `rounds` interleaved batches, so that a machine whose speed drifts over
 * tens of seconds weighs on all of them alike. Each round starts one target later than the one before (0 1 2, then
 * 1 2 0, then 2 0 1): every target takes every place in turn, and none is measured twice in a row. A batch right after
 * the same process's batch finds the machine's caches warm with its code and data: with the order reversed every other
 * round (0 1 2, then 2 1 0), the targets at the ends had such a pair at every turn and the one in the middle never,
 * which made the middle one (the gateway, against a `MEASURE_BASELINE` build) cost about 2 µs more a plain request and
 * 9 µs more a stream than the same build at an end (2026-12-06). With three targets, rounds in multiples of three
 * give each place the same share.
 */
const measureInterleaved = async (
  targets: readonly Target[],
  rounds: number,
  /** A target that must never reach the mock (cache hits), and the mock's count of what it answered. */
  noUpstream?: { name: string; countMockRequests: () => Promise<number> }
) => {
  const guarded = async (target: Target, run: () => Promise<unknown>): Promise<void> => {
    if (target.name !== noUpstream?.name) return void (await run())
    const before = await noUpstream.countMockRequests()
    await run()
    const calls = (await noUpstream.countMockRequests()) - before
    if (calls > 0) throw new Error(`${target.name}: ${calls} requests reached the mock`)
  }
  for (const target of targets) await guarded(target, () => drive(target, requests))
  const tallies: Tally[] = targets.map((target) => ({
    cpuSeconds: 0,
    roundMicros: [],
    promises: 0,
    threads: new Map(),
    attachedOutput: '',
    redis: { cpuSeconds: 0, scripts: 0, scriptMicros: 0 },
    instructions: target.callgrind === true ? 0 : null,
    compilerInstructions: 0,
    heapFiles: [],
  }))
  const perRound = Math.ceil(requests / rounds)
  for (let round = 0; round < rounds; round += 1) {
    for (let place = 0; place < targets.length; place += 1) {
      const index = (round + place) % targets.length
      const tally = tallies[index]
      const before = tally.cpuSeconds
      await guarded(targets[index], () => measureBatch(targets[index], perRound, tally))
      tally.roundMicros.push(((tally.cpuSeconds - before) * 1e6) / perRound)
    }
  }
  const measured = perRound * rounds
  const allocated = await Promise.all(
    targets.map((target, index) => readHeapSampling(target, tallies[index].heapFiles, measured))
  )
  return targets.map((target, index) => {
    const tally = tallies[index]
    const threads = [...tally.threads.values()]
      .map(({ name, seconds }) => ({ name, micros: (seconds * 1e6) / measured }))
      .filter((thread) => thread.micros >= 1)
      .sort((a, b) => b.micros - a.micros)
    const redis: RedisShare | null =
      target.redis === undefined
        ? null
        : {
            cpuMicros:
              tally.redis.cpuSeconds === null ? null : (tally.redis.cpuSeconds * 1e6) / measured,
            scripts: tally.redis.scripts / measured,
            scriptMicros: tally.redis.scriptMicros / measured,
          }
    return {
      name: target.name,
      cpuMicros: (tally.cpuSeconds * 1e6) / measured,
      roundMicros: tally.roundMicros,
      promises: tally.promises === null ? null : tally.promises / measured,
      instructions: tally.instructions === null ? null : tally.instructions / measured,
      compilerInstructions: tally.compilerInstructions / measured,
      allocated: allocated[index],
      threads,
      attachedOutput: tally.attachedOutput,
      redis,
    }
  })
}

/**
 * `MEASURE_HEAP=1` (`plain`, `plain-tenant`, `stream`, `stream-no-usage`): V8's sampling heap profiler in the gateway,
 * a baseline gateway and the reference (`heap-sampling-probe.mjs`, preloaded), over each measured batch: the bytes a
 * request allocates, garbage included, and the profiles kept for `read-heap-profile.ts`, which says by whom (the
 * command is printed). Sampling slows the targets: a heap run's CPU figures are not their own.
 */
const heapSampling = process.env.MEASURE_HEAP === '1'
const heapProbeFlags = heapSampling
  ? ['--import', fileURLToPath(new URL('./heap-sampling-probe.mjs', import.meta.url))]
  : []
/** Where the profiles are kept after the run (the processes' folder goes with them). */
const heapDirectory = heapSampling ? mkdtempSync(join(tmpdir(), 'gatehouse-heap-')) : null
const heapBatches = new Map<number, number>()

/** Starts sampling in `pid` (its probe counts the signals): the file its profile will be written to when stopped. */
const startHeapSampling = async (pid: number): Promise<string> => {
  const batch = heapBatches.get(pid) ?? 0
  heapBatches.set(pid, batch + 1)
  process.kill(pid, 'SIGUSR2')
  // The signal is handled on the target's event loop: let it start before the first request.
  await new Promise((resolve) => setTimeout(resolve, 100))
  return join(processes.gcDirectory, `${pid}.${batch}.heapprofile`)
}

/** A target's bytes allocated per request from its batches' profiles (kept in `heapDirectory`); `null` without. */
const readHeapSampling = async (
  target: Target,
  files: readonly string[],
  measured: number
): Promise<{ bytes: number; kept: string } | null> => {
  if (files.length === 0 || heapDirectory === null) return null
  let allocations: Allocations | undefined
  const name = target.name.replaceAll(' ', '-')
  for (const [index, file] of files.entries()) {
    for (let waited = 0; !existsSync(file); waited += 100) {
      if (waited > 30_000) throw new Error(`${target.name}: no heap profile at ${file}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const kept = join(heapDirectory, `${name}.${index}.heapprofile`)
    copyFileSync(file, kept)
    allocations = addAllocations(JSON.parse(readFileSync(kept, 'utf8')) as HeapProfile, allocations)
  }
  return {
    bytes: allocations!.total / measured,
    kept: `node --import tsx bench/read-heap-profile.ts ${join(heapDirectory, `${name}.*.heapprofile`)} --per ${measured}`,
  }
}

/** `MEASURE_PROMISES=1`: the probe preloaded into the gateway and the reference (`promise-probe.mjs`). */
const countPromises = process.env.MEASURE_PROMISES === '1'
const promiseProbeFlags = countPromises
  ? ['--import', fileURLToPath(new URL('./promise-probe.mjs', import.meta.url))]
  : []

/**
 * The promises `pid` has made so far, as its probe last wrote them, once the probe has had time to write what the
 * batch before it left (it writes at most every 50 ms); `null` without the probe (not counting, or a target started
 * without it).
 */
const readPromises = async (pid: number): Promise<number | null> => {
  if (!countPromises) return null
  await new Promise((resolve) => setTimeout(resolve, 200))
  try {
    const kept = JSON.parse(
      readFileSync(join(processes.gcDirectory, `${pid}.promises.json`), 'utf8')
    ) as { promises: number }
    return kept.promises
  } catch {
    return null
  }
}

/**
 * `MEASURE_CALLGRIND=1`: the gateway (and a `MEASURE_BASELINE` gateway) run under valgrind's callgrind with V8's
 * `--predictable` (no concurrent compilation or collection), and each of their measured batches is also counted in
 * instructions, all threads together: counters zeroed before the batch, dumped after (`callgrind_control`). On a
 * machine whose speed drifts, CPU time cannot tell two builds a few microseconds apart (the same build against itself
 * came out ±10 to 20 µs a plain request); instruction counts moved by 2% (the same build against itself, `plain 3000`,
 * three rounds). Under valgrind the gateway runs some fifty times slower: a few thousand requests take minutes (with
 * fewer than about 3,000 the warm-up leaves the JIT unsettled: 1,850k instructions a plain request after 1,000, 470k
 * after 3,000), and only the instructions mean anything (the CPU times are valgrind's, and the reference is not run
 * under it). Whatever the gateway does by the clock covers fifty times fewer requests: a tenant key's quota blocks
 * (`limits.blockMs`, 200 ms) hold a few requests instead of hundreds, so `plain-tenant` ran 0.12 to 0.14 Redis scripts
 * a request (0.02 at full speed) and its tenant key came out anywhere from 516k to 666k instructions a request from one
 * run to the next; `BENCH_BLOCK_MS=5000` (the most the config takes) brings it to 0.05 (506k against 438k for the
 * master key). Needs valgrind on the PATH (Debian's `valgrind`).
 */
const callgrind = process.env.MEASURE_CALLGRIND === '1'
/**
 * `MEASURE_CALLGRIND_KEEP` (a folder): each measured batch's dump is copied there, for `callgrind_annotate`, which
 * names Node's and V8's own functions (the JSON parser, the collector, the string table) but not compiled JavaScript.
 */
const keptDumps = process.env.MEASURE_CALLGRIND_KEEP || undefined
const callgrindDirectory = callgrind ? mkdtempSync(join(tmpdir(), 'gatehouse-callgrind-')) : null
const callgrindWrapper =
  callgrindDirectory === null
    ? undefined
    : [
        'valgrind',
        '--tool=callgrind',
        // V8 writes the code it compiles, then runs it.
        '--smc-check=all-non-file',
        `--callgrind-out-file=${join(callgrindDirectory, 'callgrind.%p')}`,
      ]

const callgrindControl = (option: '-z' | '-d', pid: number): void => {
  // With the gateway's `USER` and `HOST` (none, and the address it listens on): vgdb names the files it talks to the
  // process through after them.
  execFileSync('callgrind_control', [option, String(pid)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1' },
    stdio: 'ignore',
  })
}

/**
 * What the optimizing compiler cost in a dump: the inclusive count of V8's `Compiler::CompileOptimized`, as
 * `callgrind_annotate` gives it. Under `--predictable` Turbofan runs on the main thread, when a function gets hot: in
 * the first tens of thousands of requests at full speed, and still in the measured batches after the few thousand of
 * a warm-up under valgrind. It was 16% of a plain request's instructions in one batch and a different share in the
 * next, which made the same build count 483k in one slot and 549k in the other (2026-12-07); counted apart, what is
 * left is the steady state that a build's change moves.
 */
const compilerInstructions = (file: string): number => {
  const annotated = execFileSync(
    'callgrind_annotate',
    ['--inclusive=yes', '--threshold=100', file],
    {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    }
  )
  let total = 0
  for (const line of annotated.split('\n')) {
    const match = /^\s*([\d,]+)\s.*:v8::internal::Compiler::CompileOptimized\(/.exec(line)
    if (match !== null) total += Number(match[1].replaceAll(',', ''))
  }
  return total
}

/**
 * The instructions (`totals:`) of the dump `callgrind_control -d` just made of `pid`, and the optimizing compiler's
 * share of them; the file is then removed (copied to `MEASURE_CALLGRIND_KEEP` first), so that the next dump is the
 * only one there (callgrind names them `callgrind.<pid>.<n>`; `callgrind.<pid>` stays empty).
 */
const readLastDump = (pid: number): { total: number; compiler: number } => {
  if (callgrindDirectory === null) throw new Error('not under callgrind')
  const pattern = new RegExp(`^callgrind\\.${pid}\\.\\d+$`)
  const dumps = readdirSync(callgrindDirectory)
    .filter((name) => pattern.test(name))
    .map((name) => join(callgrindDirectory, name))
  if (dumps.length !== 1)
    throw new Error(`expected one callgrind dump of ${pid}, found: ${dumps.join(', ') || 'none'}`)
  const text = readFileSync(dumps[0], 'utf8')
  const total = /^totals:\s*(\d+)/m.exec(text)
  if (total === null) throw new Error(`no totals in ${dumps[0]}`)
  const compiler = compilerInstructions(dumps[0])
  if (keptDumps !== undefined)
    copyFileSync(dumps[0], join(keptDumps, `callgrind.${pid}.${Date.now()}`))
  rmSync(dumps[0])
  return { total: Number(total[1]), compiler }
}

// The gateway's usage store in a fresh temporary folder (never the checkout's `./data/`), removed at the end.
const stores = await prepareBenchStores({
  redis: tenantKind,
  cacheRedis: cacheBackend === 'redis',
  database: 'sqlite',
  redisTimeoutMs:
    process.env.BENCH_REDIS_TIMEOUT_MS === undefined
      ? undefined
      : Number(process.env.BENCH_REDIS_TIMEOUT_MS),
})
/** The gateway's Node flags of the run's own, which a `MEASURE_BASELINE` gateway gets too. */
const gatewayNodeOptions = [
  ...promiseProbeFlags,
  ...heapProbeFlags,
  ...(callgrind ? ['--predictable'] : []),
  ...nodeFlagsFromEnv('BENCH_GATEWAY_NODE_FLAGS'),
]
const processes = await startBenchProcesses({
  gatewayWrapper: callgrindWrapper,
  gatewayEnv: stores.env,
  gatewayConfig: stores.config,
  gatewayLogPath: join(tmpdir(), `gatehouse-measure-cost-${process.pid}.log`),
  gatewayNodeOptions,
  referenceNodeOptions: [
    ...promiseProbeFlags,
    ...heapProbeFlags,
    ...nodeFlagsFromEnv('BENCH_REFERENCE_NODE_FLAGS'),
  ],
})

/** Each row's CPU per request, by thread, and what an attached tool printed. */
const report = (rows: readonly Awaited<ReturnType<typeof measureInterleaved>>[number][]) => {
  for (const row of rows) {
    if (row.attachedOutput !== '')
      console.log(`--- ${row.name}: ${process.env.MEASURE_ATTACH}\n${row.attachedOutput}`)
    const threads = row.threads
      .map((thread) => `${thread.name} ${thread.micros.toFixed(1)}`)
      .join(', ')
    const promises =
      row.promises === null ? '' : `; ${row.promises.toFixed(1)} promises per request`
    const instructions =
      row.instructions === null
        ? ''
        : `; ${(row.instructions / 1000).toFixed(1)}k instructions per request (callgrind; V8's optimizing compiler apart, ${(row.compilerInstructions / 1000).toFixed(1)}k more)`
    const allocated =
      row.allocated === null
        ? ''
        : `; ${(row.allocated.bytes / 1024).toFixed(1)} KiB allocated per request (by whom: ${row.allocated.kept})`
    console.log(
      `${row.name.padEnd(10)} ${kind}: ${row.cpuMicros.toFixed(1)} µs CPU per request (threads: ${threads})${promises}${instructions}${allocated}`
    )
  }
}

/**
 * `MEASURE_BASELINE`: another checkout of Gatehouse (built: `npm run build` there), whose gateway is measured beside
 * this one's in the same interleaved rounds, over the same mock, with stores of its own. A change to the hot path is
 * judged by `gateway/baseline`, which a machine whose speed drifts between runs moves far less than it moves the
 * figures of two runs (`git worktree add ../before HEAD~1`, link its `node_modules`, build it). Not for `plain-tenant`.
 * `MEASURE_BASELINE_NODE_FLAGS` gives the baseline Node flags of its own, after the gateway's: with this checkout as
 * the baseline, it compares two settings of one build (`--max-semi-space-size=32` against the shipped 16, say).
 */
const startBaseline = async (): Promise<{
  url: string
  pid: number
  stop: () => Promise<void>
} | null> => {
  const checkout = process.env.MEASURE_BASELINE
  if (checkout === undefined || checkout === '') return null
  if (tenantKind) throw new Error('MEASURE_BASELINE: not for plain-tenant')
  const baselineStores = await prepareBenchStores({ redis: false, database: 'sqlite' })
  const configDirectory = mkdtempSync(join(tmpdir(), 'gatehouse-measure-baseline-'))
  const configPath = join(configDirectory, 'gatehouse.yaml')
  writeFileSync(
    configPath,
    stringify({ ...conversionConfig(processes.mock.baseUrl), ...baselineStores.config })
  )
  const gateway = await startGateway({
    configPath,
    mockBaseUrl: processes.mock.baseUrl,
    logPath: join(tmpdir(), `gatehouse-measure-cost-baseline-${process.pid}.log`),
    bin: join(checkout, 'bin', 'gatehouse.js'),
    // Started as the gateway is (`startBenchProcesses`): the GC probe and the run's own flags too, or the two would
    // not be measured alike (the probe's work alone made the gateway cost more than the same build as baseline).
    // `MEASURE_BASELINE_NODE_FLAGS` after them: the same checkout as its own baseline with other flags (a later V8
    // flag wins) compares two settings in the same rounds.
    nodeOptions: [
      ...serveNodeFlags,
      '--import',
      gcProbe,
      ...gatewayNodeOptions,
      ...nodeFlagsFromEnv('MEASURE_BASELINE_NODE_FLAGS'),
    ],
    env: { ...baselineStores.env, GATEHOUSE_BENCH_GC_DIR: processes.gcDirectory },
    wrapper: callgrindWrapper,
  })
  return {
    url: gateway.url,
    pid: gateway.pid,
    stop: async () => {
      await stopChild(gateway.child, 15_000)
      rmSync(configDirectory, { recursive: true, force: true })
      await baselineStores.cleanup()
    },
  }
}

/**
 * `MEASURE_FLOOR=1` (`plain` only): the least a Hono app on @hono/node-server does for the same call
 * (`hono-floor-proxy.ts`), measured in the same rounds. `gateway/floor` is then the gateway's own work per request,
 * and `floor/reference` what Hono and its Node adapter cost over the reference proxy.
 */
const startFloor = async (): Promise<{
  url: string
  pid: number
  stop: () => Promise<void>
} | null> => {
  if (process.env.MEASURE_FLOOR !== '1') return null
  if (kind !== 'plain') throw new Error('MEASURE_FLOOR: for plain only')
  const child = spawnPinned({
    nodeArgs: [transpileToCache(fileURLToPath(new URL('./hono-floor-proxy.ts', import.meta.url)))],
    core: 0,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      UPSTREAM_ORIGIN: new URL(processes.mock.baseUrl).origin,
      UPSTREAM_API_KEY: benchSettings.upstreamApiKey,
      PORT: '0',
    },
  })
  const { url } = await readJsonLine<{ url: string }>(child, 20_000)
  return { url, pid: child.pid as number, stop: () => stopChild(child, 5_000) }
}

/**
 * `MEASURE_ONLY` (names, comma-separated: `tenant key`, `gateway`) keeps those targets alone, for a profile of one:
 * `plain-tenant` runs its master and tenant keys in one process, whose profile would hold both.
 */
const only = (targets: readonly Target[]): readonly Target[] => {
  const names = process.env.MEASURE_ONLY?.split(',').map((name) => name.trim())
  if (names === undefined) return targets
  const kept = targets.filter((target) => names.includes(target.name))
  if (kept.length === 0)
    throw new Error(`MEASURE_ONLY names none of ${targets.map((target) => target.name).join(', ')}`)
  return kept
}

/**
 * The reference against the gateway (and, for `plain-tenant`, the gateway with a tenant key; with `MEASURE_BASELINE`,
 * another checkout's gateway).
 */
const measureChat = async (rounds: number) => {
  const targets: Target[] = [
    {
      name: 'reference',
      url: processes.reference.url,
      pid: processes.reference.pid,
      heapSampled: heapSampling,
      request: chatRequest('any'),
    },
    {
      name: 'gateway',
      url: processes.gateway.url,
      pid: processes.gateway.pid,
      callgrind,
      heapSampled: heapSampling,
      request: chatRequest(benchSettings.masterKey),
    },
  ]
  if (tenantKind) {
    const { key } = await createBenchTenant({
      url: processes.gateway.url,
      masterKey: benchSettings.masterKey,
    })
    targets.push({
      name: 'tenant key',
      url: processes.gateway.url,
      pid: processes.gateway.pid,
      callgrind,
      heapSampled: heapSampling,
      request: chatRequest(key),
      redis: { pid: stores.redisPid },
    })
  }
  const baseline = await startBaseline()
  const floor = await startFloor()
  try {
    if (baseline !== null)
      targets.push({
        name: 'baseline',
        url: baseline.url,
        pid: baseline.pid,
        callgrind,
        heapSampled: heapSampling,
        request: chatRequest(benchSettings.masterKey),
      })
    if (floor !== null)
      targets.push({
        name: 'hono floor',
        url: floor.url,
        pid: floor.pid,
        request: chatRequest(benchSettings.masterKey),
      })
    const kept = only(targets)
    const rows = await measureInterleaved(kept, rounds)
    report(rows)
    // Some targets left out: no ratios between them.
    if (kept.length !== targets.length) return
    const [reference, gateway] = rows
    const ratio = gateway.cpuMicros / reference.cpuMicros
    console.log(
      `gateway/reference: CPU per request ${ratio.toFixed(2)} (a throughput ratio of about ${(1 / ratio).toFixed(2)})`
    )
    if (baseline !== null) {
      const before = rows[2]
      console.log(
        `baseline/reference: CPU per request ${(before.cpuMicros / reference.cpuMicros).toFixed(2)}; gateway/baseline: ${(gateway.cpuMicros / before.cpuMicros).toFixed(3)} (${(gateway.cpuMicros - before.cpuMicros).toFixed(1)} µs per request)`
      )
      const paired = pairedDifference(gateway.roundMicros, before.roundMicros)
      console.log(
        `gateway - baseline, round by round (µs per request): ${paired.differences.map((value) => value.toFixed(1)).join(' ')}; ${formatPairedDifference(paired)} (the mean, two standard errors of it over ${rounds} rounds)`
      )
      if (gateway.instructions !== null && before.instructions !== null)
        console.log(
          `gateway/baseline in instructions: ${(gateway.instructions / before.instructions).toFixed(3)} (${((gateway.instructions - before.instructions) / 1000).toFixed(1)}k per request)`
        )
    } else if (tenantKind) reportTenant(rows[2], reference, gateway)
    if (floor !== null) {
      const least = rows[rows.length - 1]
      console.log(
        `hono floor/reference: CPU per request ${(least.cpuMicros / reference.cpuMicros).toFixed(2)}; gateway/hono floor: ${(gateway.cpuMicros / least.cpuMicros).toFixed(2)} (${(gateway.cpuMicros - least.cpuMicros).toFixed(1)} µs per request of the gateway's own)`
      )
    }
  } finally {
    await baseline?.stop()
    await floor?.stop()
  }
}

const reportTenant = (
  tenant: Awaited<ReturnType<typeof measureInterleaved>>[number],
  reference: Awaited<ReturnType<typeof measureInterleaved>>[number],
  gateway: Awaited<ReturnType<typeof measureInterleaved>>[number]
): void => {
  console.log(
    `tenant key/reference: CPU per request ${(tenant.cpuMicros / reference.cpuMicros).toFixed(2)} (a throughput ratio of about ${(reference.cpuMicros / tenant.cpuMicros).toFixed(2)}, Redis not counted)`
  )
  console.log(
    `tenant key - master key: ${(tenant.cpuMicros - gateway.cpuMicros).toFixed(1)} µs gateway CPU per request`
  )
  if (tenant.redis !== null) {
    const { cpuMicros, scripts, scriptMicros } = tenant.redis
    console.log(
      `Redis per tenant-key request: ${cpuMicros === null ? 'CPU not readable (not on this machine)' : `${cpuMicros.toFixed(1)} µs CPU`}, ${scripts.toFixed(2)} scripts, ${scriptMicros.toFixed(1)} µs in scripts (${(scriptMicros / Math.max(scripts, 1e-9)).toFixed(1)} µs each)`
    )
  }
}

/** A cache hit (a gateway of its own, primed) against the main gateway's uncached call and the mock's own answer. */
const measureCacheHits = async (backend: 'memory' | 'redis', rounds: number) => {
  const cacheStores = stores.cacheGatewayStores(backend)
  const cacheGateway = await startCacheGateway({
    mockBaseUrl: processes.mock.baseUrl,
    logPath: join(tmpdir(), `gatehouse-measure-cost-cache-${process.pid}.log`),
    nodeOptions: nodeFlagsFromEnv('BENCH_GATEWAY_NODE_FLAGS'),
    env: cacheStores.env,
    config: cacheGatewayConfig({ backend, ...cacheStores }),
  })
  try {
    const scenario = fullScenarios.find((candidate) => candidate.cache?.backend === backend)!
    const bodyFor = (cache?: 'hit' | 'miss') =>
      cacheRequestBody(scenario, { url: '', pid: null, key: '', cache })
    await primeCache({
      name: kind,
      url: cacheGateway.url,
      key: benchSettings.masterKey,
      hitBody: bodyFor('hit'),
      missBody: bodyFor('miss').replace(uniqueRequestMarker, `prime-${Date.now()}`),
      countMockRequests: () => processes.countMockRequests(),
    })
    const chat = (key: string, body: string): TargetRequest => ({ ...chatRequest(key), body })
    const mockCalls = processes.countMockRequests
    const targets: Target[] = [
      {
        name: 'direct',
        url: processes.mock.url,
        pid: processes.mock.pid,
        request: chat(benchSettings.upstreamApiKey, bodyFor()),
      },
      {
        name: 'gateway',
        url: processes.gateway.url,
        pid: processes.gateway.pid,
        request: chat(benchSettings.masterKey, bodyFor()),
      },
      {
        name: 'hit',
        url: cacheGateway.url,
        pid: cacheGateway.pid,
        request: chat(benchSettings.masterKey, bodyFor('hit')),
      },
    ]
    const [direct, gateway, hit] = await measureInterleaved(targets, rounds, {
      name: 'hit',
      countMockRequests: mockCalls,
    })
    report([direct, gateway, hit])
    console.log(
      `hit - direct: ${(hit.cpuMicros - direct.cpuMicros).toFixed(1)} µs; hit/gateway (uncached): ${(hit.cpuMicros / gateway.cpuMicros).toFixed(2)}`
    )
  } finally {
    await cacheGateway.stop()
  }
}

try {
  const rounds = Number(process.env.MEASURE_ROUNDS ?? 5)
  if (!Number.isSafeInteger(rounds) || rounds <= 0)
    throw new Error(`MEASURE_ROUNDS is a positive integer, got ${process.env.MEASURE_ROUNDS}`)
  if (kind === 'converted') {
    // `MEASURE_APIS=responses` (or `messages`) drives one alone: a CPU profile of one conversion.
    const apis = (process.env.MEASURE_APIS?.split(',') ?? ['messages', 'responses']) as (
      'messages' | 'responses'
    )[]
    const rows = await measureInterleaved(
      apis.map((api) => {
        const {
          url: path,
          headers,
          body,
        } = requestFor({
          api,
          key: benchSettings.masterKey,
          stream: true,
          includeUsage: true,
          verifyBodies: false,
        })
        return {
          name: api,
          url: processes.gateway.url,
          pid: processes.gateway.pid,
          request: { path, headers, body },
        }
      }),
      rounds
    )
    report(rows)
    const [messages, responses] = rows
    if (apis.length === 2)
      console.log(
        `responses/messages: CPU per stream ${(responses.cpuMicros / messages.cpuMicros).toFixed(3)}`
      )
  } else if (cacheBackend !== null) {
    await measureCacheHits(cacheBackend, rounds)
  } else {
    await measureChat(rounds)
  }
} finally {
  await processes.stop()
  await stores.cleanup()
  if (callgrindDirectory !== null) rmSync(callgrindDirectory, { recursive: true, force: true })
}
