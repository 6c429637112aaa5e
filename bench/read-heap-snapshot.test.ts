import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  formatHeapPerUnit,
  heapPerUnit,
  readHeapKinds,
  readHeapSnapshotFile,
} from './read-heap-snapshot.ts'
import type { HeapSnapshot } from './read-heap-snapshot.ts'

/**
 * A bare Node process that writes a snapshot of itself, makes 500 objects of a class of its own and keeps them, and
 * writes another: small heaps, read in a moment (a snapshot of a test worker, with everything it has loaded, is not).
 */
const childScript = `
import { writeHeapSnapshot } from 'node:v8'
class HeldForTheTest { constructor(index) { this.index = index; this.payload = { a: index, b: 'two' } } }
writeHeapSnapshot(process.argv[1] + '/before.heapsnapshot')
globalThis.held = Array.from({ length: 500 }, (_, index) => new HeldForTheTest(index))
writeHeapSnapshot(process.argv[1] + '/after.heapsnapshot')
`

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

  it('finds what 500 more objects of a class hold, per object, in real snapshots of a Node process', () => {
    const directory = mkdtempSync(join(tmpdir(), 'gatehouse-heap-snapshot-test-'))
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', childScript, directory])
      const perUnit = heapPerUnit(
        readHeapSnapshotFile(join(directory, 'before.heapsnapshot')),
        readHeapSnapshotFile(join(directory, 'after.heapsnapshot')),
        500
      )
      const ours = perUnit.kinds.find((kind) => kind.kind === 'object HeldForTheTest')
      expect(ours?.objects).toBe(1)
      expect(ours?.bytes).toBeGreaterThan(0)
      // Each holds its payload too: more than one object a unit in all.
      expect(perUnit.objects).toBeGreaterThan(1)
      expect(formatHeapPerUnit(perUnit, 100).join('\n')).toContain('object HeldForTheTest')
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })
})
