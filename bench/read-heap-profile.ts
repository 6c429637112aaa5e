/**
 * `node --import tsx bench/read-heap-profile.ts <file.heapprofile>... [--per N] [--top K]`: what a process allocated,
 * from V8 sampling heap profiles (`heap-sampling-probe.mjs`, written by `measure-cost.ts` with `MEASURE_HEAP=1`), by
 * group (the gateway's own code by folder, each package, each Node module, V8's and Node's natives) and by function,
 * largest first; with `--per N` (the requests the profiles cover) in bytes a request. Several files are added
 * together (a target's batches). A function's figure is what it allocated itself, including what the JIT inlined
 * into it: a parse inlined into its caller counts there.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The part of a V8 sampling heap profile read here (`HeapProfiler.SamplingHeapProfile`). */
export type HeapProfileNode = {
  callFrame: { functionName: string; url: string; lineNumber: number }
  selfSize: number
  children: HeapProfileNode[]
}
export type HeapProfile = { head: HeapProfileNode }

export type Allocations = {
  total: number
  byGroup: Map<string, number>
  byFunction: Map<string, number>
}

/** A script's group: `dist/src/api`, `dist/providers/openai`, a package (`undici`, `@hono/node-server`), `node:...`. */
export const groupOf = (url: string): string => {
  if (url === '') return '(native or generated code)'
  if (url.startsWith('node:')) return url
  const packageAt = url.lastIndexOf('node_modules/')
  if (packageAt !== -1) {
    const parts = url.slice(packageAt + 'node_modules/'.length).split('/')
    // The benchmark's own programs, transpiled there (`transpile-to-cache.ts`): the file is the group.
    if (parts[0] === '.cache') return parts.slice(1).join('/')
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
  }
  const path = url.replace(/^file:\/\//, '')
  for (const root of ['/dist/', '/src/', '/providers/', '/bench/', '/config/']) {
    const at = path.lastIndexOf(root)
    if (at === -1) continue
    const parts = path.slice(at + 1).split('/')
    // `dist/src/api/x.js` → `dist/src/api`; `src/api/x.ts` → `src/api`.
    return parts.slice(0, parts[0] === 'dist' ? 3 : 2).join('/')
  }
  return path
}

const functionKey = (node: HeapProfileNode): string => {
  const { functionName, url, lineNumber } = node.callFrame
  const place =
    url === ''
      ? ''
      : ` ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(?=dist\/|src\/|providers\/)/, '')}:${lineNumber + 1}`
  return `${functionName === '' ? '(anonymous)' : functionName}${place}`
}

/** Adds `profile`'s allocations to `into` (a new tally when absent). */
export const addAllocations = (
  profile: HeapProfile,
  into: Allocations = { total: 0, byGroup: new Map(), byFunction: new Map() }
): Allocations => {
  const stack = [profile.head]
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.selfSize > 0) {
      into.total += node.selfSize
      const group = groupOf(node.callFrame.url)
      into.byGroup.set(group, (into.byGroup.get(group) ?? 0) + node.selfSize)
      const key = functionKey(node)
      into.byFunction.set(key, (into.byFunction.get(key) ?? 0) + node.selfSize)
    }
    for (const child of node.children) stack.push(child)
  }
  return into
}

const largest = (entries: Map<string, number>, top: number): [string, number][] =>
  [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)

/** The report: the total, then groups and functions, in bytes (a request, with `per`). */
export const formatAllocations = (allocations: Allocations, per: number, top: number): string => {
  const unit = per === 1 ? 'bytes' : 'bytes a request'
  const line = ([name, bytes]: [string, number]): string =>
    `${(bytes / per).toFixed(0).padStart(10)}  ${name}`
  return [
    `allocated: ${(allocations.total / per).toFixed(0)} ${unit}`,
    'by group:',
    ...largest(allocations.byGroup, top).map(line),
    'by function (its own allocations, with what the JIT inlined into it):',
    ...largest(allocations.byFunction, top).map(line),
  ].join('\n')
}

const main = (args: string[]): void => {
  const files: string[] = []
  let per = 1
  let top = 30
  for (let index = 0; index < args.length; index += 1) {
    if (args[index] === '--per') per = Number(args[++index])
    else if (args[index] === '--top') top = Number(args[++index])
    else files.push(args[index])
  }
  if (files.length === 0 || !(per > 0) || !(top > 0))
    throw new Error('usage: read-heap-profile.ts <file.heapprofile>... [--per N] [--top K]')
  let allocations: Allocations | undefined
  for (const file of files)
    allocations = addAllocations(JSON.parse(readFileSync(file, 'utf8')) as HeapProfile, allocations)
  console.log(formatAllocations(allocations!, per, top))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2))
