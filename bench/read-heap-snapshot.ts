/**
 * What a V8 heap snapshot holds, by kind of object, and what one more of something (an open stream) holds: the
 * difference of two snapshots taken with 0 and with N of them, divided by N (`measure-stream-heap.ts` takes them).
 * A snapshot is taken after a full collection, so it counts what is alive, not what was allocated.
 *
 * `node --import tsx bench/read-heap-snapshot.ts <before.heapsnapshot> <after.heapsnapshot> <N> [--top K]` prints the
 * bytes and objects a stream holds and the kinds of object that hold the most.
 * https://chromedevtools.github.io/devtools-protocol/tot/HeapProfiler/ (the snapshot format: `snapshot.meta`)
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The part of a `.heapsnapshot` read here: the flat node array and what its fields mean. */
export type HeapSnapshot = {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

export type HeapKinds = {
  bytes: number
  objects: number
  /** By kind: the node's type and, for objects and closures, its constructor's or function's name. */
  byKind: Map<string, { bytes: number; objects: number }>
}

/** Strings, numbers, code and the like by type alone: their names are their contents. */
const namedByTypeAlone = new Set([
  'string',
  'concatenated string',
  'sliced string',
  'number',
  'code',
  'regexp',
  'bigint',
])

const kindOf = (type: string, name: string): string => {
  if (namedByTypeAlone.has(type)) return `(${type})`
  if (type === 'array') return `(array) ${name.slice(0, 40)}`
  return `${type} ${name.slice(0, 80)}`
}

/** Every node's self size, added up by kind. */
export const readHeapKinds = (snapshot: HeapSnapshot): HeapKinds => {
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const stride = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const byKind = new Map<string, { bytes: number; objects: number }>()
  let bytes = 0
  let objects = 0
  const { nodes, strings } = snapshot
  for (let index = 0; index < nodes.length; index += stride) {
    const kind = kindOf(types[nodes[index + typeAt]], strings[nodes[index + nameAt]])
    const size = nodes[index + sizeAt]
    const entry = byKind.get(kind)
    if (entry === undefined) byKind.set(kind, { bytes: size, objects: 1 })
    else {
      entry.bytes += size
      entry.objects += 1
    }
    bytes += size
    objects += 1
  }
  return { bytes, objects, byKind }
}

export type HeapPerUnit = {
  bytes: number
  objects: number
  /** Largest first: what each kind adds per unit (negative where it shrank). */
  kinds: { kind: string; bytes: number; objects: number }[]
}

/** What `after` holds beyond `before`, per one of the `units` that make the difference. */
export const heapPerUnit = (before: HeapKinds, after: HeapKinds, units: number): HeapPerUnit => {
  const kinds = [...after.byKind].map(([kind, entry]) => {
    const was = before.byKind.get(kind) ?? { bytes: 0, objects: 0 }
    return {
      kind,
      bytes: (entry.bytes - was.bytes) / units,
      objects: (entry.objects - was.objects) / units,
    }
  })
  kinds.sort((a, b) => b.bytes - a.bytes)
  return {
    bytes: (after.bytes - before.bytes) / units,
    objects: (after.objects - before.objects) / units,
    kinds,
  }
}

export const readHeapSnapshotFile = (path: string): HeapKinds =>
  readHeapKinds(JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot)

export const formatHeapPerUnit = (perUnit: HeapPerUnit, top: number): string[] => [
  `per unit: ${perUnit.bytes.toFixed(0)} bytes, ${perUnit.objects.toFixed(1)} objects`,
  '  bytes  objects  kind',
  ...perUnit.kinds
    .slice(0, top)
    .map(
      ({ kind, bytes, objects }) =>
        `${bytes.toFixed(0).padStart(7)}  ${objects.toFixed(2).padStart(7)}  ${kind}`
    ),
]

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [before, after, units, ...rest] = process.argv.slice(2)
  if (before === undefined || after === undefined || !(Number(units) > 0)) {
    console.error(
      'usage: read-heap-snapshot.ts <before.heapsnapshot> <after.heapsnapshot> <N> [--top K]'
    )
    process.exit(2)
  }
  const topAt = rest.indexOf('--top')
  const top = topAt === -1 ? 40 : Number(rest[topAt + 1])
  const perUnit = heapPerUnit(
    readHeapSnapshotFile(before),
    readHeapSnapshotFile(after),
    Number(units)
  )
  console.log(formatHeapPerUnit(perUnit, top).join('\n'))
}
