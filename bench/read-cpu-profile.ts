/**
 * `node --import tsx bench/read-cpu-profile.ts <file.cpuprofile> [gateway.cpuprofile] [--by function|file|inclusive]
 * [--under <regex>] [--top N] [--per N]`: where a V8 CPU profile's time went, as the benchmark's profiles are read
 * (`BENCH_GATEWAY_NODE_FLAGS="--cpu-prof --cpu-prof-dir=<dir>"`, the same for `BENCH_REFERENCE_NODE_FLAGS`).
 *
 * - `--by function` (the default): each function's self time, `name file:line`; `--by file`: self time by script
 *   (a package's files under `node_modules/<package>/`, Node's own as `node:<module>`, ours by path from the
 *   repository); `--by inclusive`: each function's time with everything it called (a recursive function counted once
 *   per sample).
 * - `--under <regex>`: only the samples with a function matching the expression on their stack (itself included):
 *   what `respondChat` costs, by what it spends it on.
 * - Two profiles (the reference proxy's, then the gateway's, over the same requests): each row's time in both and
 *   the difference, largest first, so that the gap reads from the top. `--per N` divides every figure by N (the
 *   requests each served) to give microseconds per request.
 *
 * Times are those of the samples (each sample's span to the next, as Chrome's DevTools counts them); `(idle)` is
 * left out of the busy total the percentages are of. The V8 profiler sees JavaScript, V8's builtins and the
 * collector as `(garbage collector)`, not the kernel or Node's C++: `read-perf-script.ts` reads `perf`'s view.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export type CpuProfile = {
  nodes: {
    id: number
    callFrame: { functionName: string; url: string; lineNumber: number }
    children?: number[]
  }[]
  samples: number[]
  timeDeltas: number[]
}

export type ProfileRow = { label: string; micros: number }

export type ProfileTotals = { busyMicros: number; idleMicros: number; rows: ProfileRow[] }

export type Grouping = 'function' | 'file' | 'inclusive'

/** A script's place, short: `undici/lib/core/util.js`, `node:events`, `dist/src/core/execute.js`. */
export const shortScript = (url: string): string => {
  if (url === '') return ''
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const inPackage = /\/node_modules\/(.+)$/.exec(path)
  if (inPackage) return inPackage[1]
  const repository = fileURLToPath(new URL('../', import.meta.url))
  return path.startsWith(repository) ? path.slice(repository.length) : path
}

const functionLabel = (frame: CpuProfile['nodes'][number]['callFrame']): string => {
  const script = shortScript(frame.url)
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  return script === '' ? name : `${name} ${script}:${frame.lineNumber + 1}`
}

/** Each sample's time: its span to the next sample (the last one's is unknown, so nothing). */
const sampleMicros = (profile: CpuProfile): number[] =>
  profile.samples.map((_, index) => profile.timeDeltas[index + 1] ?? 0)

/** Where the profile's time went, by `grouping`, optionally only below the functions matching `under`. */
export const readCpuProfile = (
  profile: CpuProfile,
  options: { grouping?: Grouping; under?: RegExp } = {}
): ProfileTotals => {
  const grouping = options.grouping ?? 'function'
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id)
  const labelOf = new Map(profile.nodes.map((node) => [node.id, functionLabel(node.callFrame)]))
  const stackOf = (id: number): number[] => {
    const stack: number[] = []
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) stack.push(at)
    return stack
  }
  const times = new Map<string, number>()
  const add = (label: string, micros: number): void => {
    times.set(label, (times.get(label) ?? 0) + micros)
  }
  let busyMicros = 0
  let idleMicros = 0
  const spans = sampleMicros(profile)
  profile.samples.forEach((id, index) => {
    const micros = spans[index]
    const node = byId.get(id)
    if (node === undefined) return
    if (node.callFrame.functionName === '(idle)') {
      idleMicros += micros
      return
    }
    const stack = stackOf(id)
    if (options.under && !stack.some((at) => options.under!.test(labelOf.get(at)!))) return
    busyMicros += micros
    if (grouping === 'inclusive') {
      for (const label of new Set(stack.map((at) => labelOf.get(at)!))) add(label, micros)
    } else if (grouping === 'file') {
      add(shortScript(node.callFrame.url) || node.callFrame.functionName, micros)
    } else {
      add(labelOf.get(id)!, micros)
    }
  })
  const rows = [...times]
    .map(([label, micros]) => ({ label, micros }))
    .sort((a, b) => b.micros - a.micros)
  return { busyMicros, idleMicros, rows }
}

export type ProfileDifference = { label: string; reference: number; gateway: number; more: number }

/** Row by row, the gateway's time against the reference's, the largest excess first. */
export const compareCpuProfiles = (
  reference: ProfileTotals,
  gateway: ProfileTotals
): ProfileDifference[] => {
  const labels = new Set([...reference.rows, ...gateway.rows].map((row) => row.label))
  const timeIn = (totals: ProfileTotals): Map<string, number> =>
    new Map(totals.rows.map((row) => [row.label, row.micros]))
  const inReference = timeIn(reference)
  const inGateway = timeIn(gateway)
  return [...labels]
    .map((label) => {
      const referenceMicros = inReference.get(label) ?? 0
      const gatewayMicros = inGateway.get(label) ?? 0
      return {
        label,
        reference: referenceMicros,
        gateway: gatewayMicros,
        more: gatewayMicros - referenceMicros,
      }
    })
    .sort((a, b) => b.more - a.more)
}

const option = (args: string[], name: string): string | undefined => {
  const at = args.indexOf(name)
  return at === -1 ? undefined : args[at + 1]
}

const main = (args: string[]): void => {
  const files = args.filter(
    (arg, index) => !arg.startsWith('--') && !args[index - 1]?.startsWith('--')
  )
  if (files.length === 0 || files.length > 2) {
    console.error(
      'usage: read-cpu-profile.ts <file.cpuprofile> [gateway.cpuprofile] [--by function|file|inclusive] [--under <regex>] [--top N] [--per N]'
    )
    process.exit(2)
  }
  const grouping = (option(args, '--by') ?? 'function') as Grouping
  if (!['function', 'file', 'inclusive'].includes(grouping)) throw new Error(`--by ${grouping}?`)
  const under = option(args, '--under')
  const top = Number(option(args, '--top') ?? 40)
  const per = Number(option(args, '--per') ?? 0)
  const unit = per > 0 ? 'µs/request' : 'ms'
  const shown = (micros: number): string =>
    (per > 0 ? micros / per : micros / 1000).toFixed(per > 0 ? 2 : 1).padStart(10)
  const read = (file: string): ProfileTotals =>
    readCpuProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, {
      grouping,
      under: under === undefined ? undefined : new RegExp(under),
    })
  const totals = files.map(read)
  if (totals.length === 1) {
    const [only] = totals
    console.log(
      `busy ${shown(only.busyMicros).trim()} ${unit}, idle ${shown(only.idleMicros).trim()} ${unit}`
    )
    for (const row of only.rows.slice(0, top)) {
      const share = ((100 * row.micros) / only.busyMicros).toFixed(2).padStart(6)
      console.log(`${share}% ${shown(row.micros)} ${row.label}`)
    }
    return
  }
  const [reference, gateway] = totals
  console.log(
    `busy (${unit}): reference ${shown(reference.busyMicros).trim()}, gateway ${shown(gateway.busyMicros).trim()}, more ${shown(gateway.busyMicros - reference.busyMicros).trim()}`
  )
  console.log(`${'reference'.padStart(10)} ${'gateway'.padStart(10)} ${'more'.padStart(10)}`)
  for (const row of compareCpuProfiles(reference, gateway).slice(0, top)) {
    console.log(`${shown(row.reference)} ${shown(row.gateway)} ${shown(row.more)} ${row.label}`)
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2))
