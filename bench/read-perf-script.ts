/**
 * `node --import tsx bench/read-perf-script.ts <perf.data|script.txt> [gateway perf.data|script.txt] [--top N]
 * [--callers GROUP]`:
 * where a process's CPU time went as Linux `perf` sees it, which the V8 profiler does not: the kernel (by system
 * call), the collector by its parts, V8's builtins (promise jobs, inline-cache misses, JSON), Node's C++, SQLite, and
 * the JIT's code by package. With two files (the reference proxy's, then the gateway's, over the same number of
 * requests), each group's share of the gateway's samples beside the reference's, and the difference, so that the gap
 * reads from the top. `--callers 'V8 strings'` lists instead who the samples of a group (any group whose name holds
 * the text) are spent for: the nearest named JavaScript function up each sample's stack, by share of the (gateway's)
 * samples, which tells whose strings, promises or inline-cache misses they are.
 *
 * Recording (perf on the machine, as root or with `perf_event_paranoid` low enough), one measured batch per target:
 *
 *     BENCH_GATEWAY_NODE_FLAGS=--perf-basic-prof-only-functions MEASURE_ROUNDS=1 \
 *     MEASURE_ATTACH='perf record -e cpu-clock -F 4000 -g -o /tmp/perf-{pid}.data -p {pid}' \
 *     node --import tsx bench/measure-cost.ts plain 30000
 *
 * `--perf-basic-prof-only-functions` makes Node write `/tmp/perf-<pid>.map`, the names of its compiled JavaScript;
 * without it (the reference above) that code shows as unnamed JIT code, one group. Each round of `measure-cost.ts`
 * attaches perf anew and overwrites the file: one round (`MEASURE_ROUNDS=1`) keeps the whole batch. A `.data` file is
 * read through `perf script -i` (perf must be on the PATH); a text file is taken as that command's output.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** One sample: its thread, and its stack from the leaf up, each frame its symbol (no offset) and its object file. */
export type PerfSample = { thread: string; frames: { symbol: string; object: string }[] }

/** Samples of `perf script` output (with call graphs, `-g`, or without: then the one frame on the header line). */
export const parsePerfScript = (text: string): PerfSample[] => {
  const samples: PerfSample[] = []
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((line) => line.trim() !== '')
    if (lines.length === 0) continue
    const header = /^\s*(\S+)\s+(\d+)(?:\/\d+)?\s/.exec(lines[0])
    if (header === null) continue
    const frameLines = lines.slice(1)
    if (frameLines.length === 0) {
      // `perf script` without call graphs: `comm tid time: period event: addr symbol+off (object)`.
      const leaf = /\s[a-z][\w-]*:\s+[0-9a-f]+\s+(.+)$/.exec(lines[0])
      if (leaf) frameLines.push(leaf[1])
    }
    const frames = frameLines.map((line) => {
      const frame = /^\s*(?:[0-9a-f]+\s+)?(.*?)\s+\(([^)]*)\)\s*$/.exec(line)
      const symbol = (frame ? frame[1] : line.trim()).replace(/\+0x[0-9a-f]+$/, '')
      return { symbol, object: frame ? frame[2] : '' }
    })
    samples.push({ thread: `${header[1]} ${header[2]}`, frames })
  }
  return samples
}

const isKernel = (frame: { object: string }): boolean => frame.object.includes('kernel')

/** The system call a kernel sample is in (`writev`, `read`, `epoll_pwait`...), or what brought the kernel in. */
const kernelPart = (frames: PerfSample['frames']): string => {
  const symbols = frames.map((frame) => frame.symbol)
  const entry = symbols.indexOf('do_syscall_64')
  if (entry > 0) {
    const call = symbols[entry - 1]
      .replace(/^(__x64_sys_|__se_sys_|__do_sys_|ksys_|do_)/, '')
      .replace(/\.isra\.\d+$|\.constprop\.\d+$/, '')
    return `kernel: ${call}`
  }
  if (symbols.some((symbol) => symbol.startsWith('asm_exc_page_fault')))
    return 'kernel: page faults'
  if (symbols.some((symbol) => /^asm_(sysvec|common_interrupt)/.test(symbol)))
    return 'kernel: interrupts'
  return 'kernel: other'
}

/** Where the JIT's code of a function comes from: a package, a Node module, or a folder of ours. */
const scriptGroup = (symbol: string): string => {
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(symbol)
  if (inPackage) return `JS ${inPackage[1]}`
  const nodeModule = /\bnode:([\w/]+)/.exec(symbol)
  if (nodeModule) return `JS node:${nodeModule[1]}`
  const ours = /\/(dist\/(?:src|providers|config)\/[^/:]+|src\/[^/:]+|providers\/[^/:]+)/.exec(
    symbol
  )
  if (ours) return `JS ${ours[1]}`
  return 'JS other'
}

const userGroups: [RegExp, string][] = [
  [
    /Scaveng|Heap::|ArrayBufferSweeper|MarkCompact|Sweeper|Marking|MemoryAllocator|RememberedSet|SlotSet|Evacuat|cppgc/,
    'V8 garbage collector',
  ],
  [/Promise|Microtask|AsyncFunction|Generator|Await/, 'V8 promises and async functions'],
  [/Json/, 'V8 JSON'],
  [
    /LoadIC|StoreIC|KeyedLoad|KeyedStore|LookupIterator|TransitionArray|GetProperty|SetProperty|DefineKeyedOwn/,
    'V8 property access (inline-cache misses)',
  ],
  [/String|Internalize/, 'V8 strings'],
  [/ValueSerializer|ValueDeserializer|MessagePort|worker::/, 'worker messages (structured clone)'],
  [/llhttp/, 'llhttp (HTTP parser)'],
]

/** The group a sample's CPU time goes to, by its leaf frame (and, in the kernel, by its system call). */
export const groupOf = (sample: PerfSample): string => {
  const leaf = sample.frames[0]
  if (leaf === undefined) return 'unknown'
  if (isKernel(leaf)) return kernelPart(sample.frames)
  const { symbol, object } = leaf
  if (object.includes('better_sqlite3')) return 'SQLite'
  for (const [pattern, group] of userGroups) if (pattern.test(symbol)) return group
  if (/^(JS|LazyCompile|Function|Script):/.test(symbol)) return scriptGroup(symbol)
  if (object.startsWith('[JIT]') || /perf-\d+\.map$/.test(object)) return 'JIT code without a name'
  if (/libc\.so|ld-linux/.test(object)) return 'libc (malloc, free, copies)'
  if (symbol.startsWith('Builtins_')) return 'V8 other builtins'
  if (/^(node::|uv_|uv__)/.test(symbol)) return "Node's C++ and libuv"
  if (symbol.startsWith('v8::')) return 'V8 runtime, other'
  return `other: ${object.replace(/.*\//, '') || '?'}`
}

export type PerfBreakdown = {
  samples: number
  groups: Map<string, number>
  threads: Map<string, number>
}

export const breakDownPerfSamples = (samples: readonly PerfSample[]): PerfBreakdown => {
  const groups = new Map<string, number>()
  const threads = new Map<string, number>()
  for (const sample of samples) {
    const group = groupOf(sample)
    groups.set(group, (groups.get(group) ?? 0) + 1)
    threads.set(sample.thread, (threads.get(sample.thread) ?? 0) + 1)
  }
  return { samples: samples.length, groups, threads }
}

const isScript = (symbol: string): boolean => /^(JS|LazyCompile|Function|Script):/.test(symbol)

/**
 * For the samples whose group's name holds `group`: the nearest JavaScript function up the stack (its name and
 * place, without the JIT's tier marks), counted; `(no JavaScript)` for a stack without one (the event loop's own
 * work).
 */
export const callersOf = (samples: readonly PerfSample[], group: string): Map<string, number> => {
  const callers = new Map<string, number>()
  for (const sample of samples) {
    if (!groupOf(sample).includes(group)) continue
    const frame = sample.frames.find((candidate) => isScript(candidate.symbol))
    const name =
      frame === undefined
        ? '(no JavaScript)'
        : frame.symbol.replace(/^(JS|LazyCompile|Function|Script):[*~^+]?/, '').trim()
    callers.set(name, (callers.get(name) ?? 0) + 1)
  }
  return callers
}

const readSamples = (file: string): PerfSample[] => {
  const text = file.endsWith('.data')
    ? execFileSync('perf', ['script', '-i', file], {
        encoding: 'utf8',
        maxBuffer: 1 << 30,
        stdio: ['ignore', 'pipe', 'ignore'],
      })
    : readFileSync(file, 'utf8')
  return parsePerfScript(text)
}

const sorted = (counts: Map<string, number>): [string, number][] =>
  [...counts].sort((a, b) => b[1] - a[1])

/** The files and `--top N` of the command line (`--top` anywhere, 30 without it). */
export const readPerfScriptArgs = (
  args: string[]
): { files: string[]; top: number; callers: string | null } => {
  const options = new Map<string, string>()
  const files: string[] = []
  for (let index = 0; index < args.length; index += 1) {
    if (args[index] === '--top' || args[index] === '--callers') {
      options.set(args[index], args[index + 1])
      index += 1
    } else files.push(args[index])
  }
  return {
    files,
    top: options.has('--top') ? Number(options.get('--top')) : 30,
    callers: options.get('--callers') ?? null,
  }
}

const main = (args: string[]): void => {
  const { files, top, callers } = readPerfScriptArgs(args)
  if (files.length === 0 || files.length > 2) {
    console.error(
      'usage: read-perf-script.ts <perf.data|script.txt> [gateway perf.data|script.txt] [--top N] [--callers GROUP]'
    )
    process.exit(2)
  }
  const percent = (count: number, of: number): string => ((100 * count) / of).toFixed(2).padStart(7)
  const sampled = files.map(readSamples)
  if (callers !== null) {
    // As shares of the last file's (the gateway's) samples, both sides, the largest excess first.
    const of = sampled[sampled.length - 1].length
    const tallies = sampled.map((samples) => callersOf(samples, callers))
    // The gateway's count, less the reference's when there are two files.
    const excess = (counts: number[]): number =>
      counts[counts.length - 1] - (counts.length > 1 ? counts[0] : 0)
    const names = new Set(tallies.flatMap((tally) => [...tally.keys()]))
    const rows = [...names]
      .map((name) => ({ name, counts: tallies.map((tally) => tally.get(name) ?? 0) }))
      .sort((a, b) => excess(b.counts) - excess(a.counts))
    console.log(`samples in groups matching "${callers}", as % of ${files[files.length - 1]}'s:`)
    for (const row of rows.slice(0, top))
      console.log(`${row.counts.map((count) => `${percent(count, of)}%`).join(' ')} ${row.name}`)
    return
  }
  const breakdowns = sampled.map((samples) => breakDownPerfSamples(samples))
  if (breakdowns.length === 1) {
    const [only] = breakdowns
    console.log(
      `${only.samples} samples; by thread: ${sorted(only.threads)
        .map(([thread, count]) => `${thread} ${percent(count, only.samples).trim()}%`)
        .join(', ')}`
    )
    for (const [group, count] of sorted(only.groups).slice(0, top))
      console.log(`${percent(count, only.samples)}% ${group}`)
    return
  }
  // Over the same requests, samples are CPU time: both as shares of the gateway's, so that the rows add up to it.
  const [reference, gateway] = breakdowns
  console.log(
    `samples: reference ${reference.samples}, gateway ${gateway.samples} (${(gateway.samples / reference.samples).toFixed(2)}x); as % of the gateway's:`
  )
  console.log(`${'reference'.padStart(8)} ${'gateway'.padStart(8)} ${'more'.padStart(8)}`)
  const groups = new Set([...reference.groups.keys(), ...gateway.groups.keys()])
  const rows = [...groups]
    .map((group) => {
      const inReference = reference.groups.get(group) ?? 0
      const inGateway = gateway.groups.get(group) ?? 0
      return { group, inReference, inGateway, more: inGateway - inReference }
    })
    .sort((a, b) => b.more - a.more)
  for (const row of rows.slice(0, top)) {
    console.log(
      `${percent(row.inReference, gateway.samples)}% ${percent(row.inGateway, gateway.samples)}% ${percent(row.more, gateway.samples)}% ${row.group}`
    )
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2))
