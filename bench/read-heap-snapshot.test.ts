import { Session } from 'node:inspector/promises'
import { describe, expect, it } from 'vitest'
import { formatHeapPerUnit, heapPerUnit, readHeapKinds } from './read-heap-snapshot.ts'
import type { HeapSnapshot } from './read-heap-snapshot.ts'

/** A snapshot of this process, as `--heapsnapshot-signal` would write it. */
const takeSnapshot = async (): Promise<HeapSnapshot> => {
  const session = new Session()
  session.connect()
  const pieces: string[] = []
  session.on('HeapProfiler.addHeapSnapshotChunk', (message) => pieces.push(message.params.chunk))
  await session.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false })
  session.disconnect()
  return JSON.parse(pieces.join('')) as HeapSnapshot
}

class HeldForTheTest {
  readonly payload = { a: 1, b: 'two' }
}

describe('read-heap-snapshot', () => {
  it('adds up self sizes by kind, in a hand-made snapshot', () => {
    const snapshot: HeapSnapshot = {
      snapshot: {
        meta: {
          node_fields: ['type', 'name', 'id', 'self_size', 'edge_count'],
          node_types: [['hidden', 'object', 'string', 'closure']],
        },
      },
      // type, name, id, self_size, edge_count
      nodes: [1, 0, 1, 32, 0, 1, 0, 3, 32, 0, 2, 1, 5, 24, 0, 3, 2, 7, 40, 0],
      strings: ['Stream', 'hello', 'onData'],
    }
    const kinds = readHeapKinds(snapshot)
    expect(kinds.bytes).toBe(128)
    expect(kinds.objects).toBe(4)
    expect(kinds.byKind.get('object Stream')).toEqual({ bytes: 64, objects: 2 })
    // A string is counted by type: its name is its contents.
    expect(kinds.byKind.get('(string)')).toEqual({ bytes: 24, objects: 1 })
    expect(kinds.byKind.get('closure onData')).toEqual({ bytes: 40, objects: 1 })
  })

  it('finds what 500 more objects of a class hold, per object, in real snapshots of this process', async () => {
    const before = readHeapKinds(await takeSnapshot())
    const held = Array.from({ length: 500 }, () => new HeldForTheTest())
    const after = readHeapKinds(await takeSnapshot())
    const perUnit = heapPerUnit(before, after, held.length)
    const ours = perUnit.kinds.find((kind) => kind.kind === 'object HeldForTheTest')
    expect(ours?.objects).toBe(1)
    expect(ours?.bytes).toBeGreaterThan(0)
    expect(formatHeapPerUnit(perUnit, 100).join('\n')).toContain('object HeldForTheTest')
    expect(held).toHaveLength(500)
  })
})
