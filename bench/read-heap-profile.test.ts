import { describe, expect, it } from 'vitest'
import {
  addAllocations,
  formatAllocations,
  groupOf,
  type HeapProfileNode,
} from './read-heap-profile.ts'

const node = (
  functionName: string,
  url: string,
  selfSize: number,
  children: HeapProfileNode[] = []
): HeapProfileNode => ({ callFrame: { functionName, url, lineNumber: 9 }, selfSize, children })

describe('read-heap-profile', () => {
  it('groups scripts by the gateway folder, the package or the Node module', () => {
    expect(groupOf('file:///work/main/dist/src/api/respond-chat.js')).toBe('dist/src/api')
    expect(groupOf('file:///work/main/dist/providers/openai/openai-adapter.js')).toBe(
      'dist/providers/openai'
    )
    expect(groupOf('/work/main/src/core/execute.ts')).toBe('src/core')
    expect(groupOf('file:///work/main/node_modules/@hono/node-server/dist/index.mjs')).toBe(
      '@hono/node-server'
    )
    expect(groupOf('/work/main/node_modules/undici/lib/dispatcher/client-h1.js')).toBe('undici')
    expect(
      groupOf('file:///work/main/node_modules/.cache/gatehouse-bench/reference-proxy.mjs')
    ).toBe('gatehouse-bench/reference-proxy.mjs')
    expect(groupOf('node:internal/streams/writable')).toBe('node:internal/streams/writable')
    expect(groupOf('')).toBe('(native or generated code)')
  })

  it('adds every node’s own bytes, across the tree and across profiles, by group and by function', () => {
    const profile = {
      head: node('(root)', '', 0, [
        node('handleChat', 'file:///w/dist/src/api/handle-chat.js', 300, [
          node('parse', 'file:///w/node_modules/zod/v4/core/schemas.js', 200),
          node('endOf', 'file:///w/dist/src/api/respond-chat.js', 100),
        ]),
        node('', '', 50),
      ]),
    }
    const once = addAllocations(profile)
    expect(once.total).toBe(650)
    const twice = addAllocations(profile, once)
    expect(twice.total).toBe(1_300)
    expect(twice.byGroup.get('dist/src/api')).toBe(800)
    expect(twice.byGroup.get('zod')).toBe(400)
    expect(twice.byGroup.get('(native or generated code)')).toBe(100)
    expect(twice.byFunction.get('handleChat dist/src/api/handle-chat.js:10')).toBe(600)
    expect(twice.byFunction.get('parse zod/v4/core/schemas.js:10')).toBe(400)
    expect(twice.byFunction.get('(anonymous)')).toBe(100)

    const report = formatAllocations(twice, 10, 2)
    expect(report).toContain('allocated: 130 bytes a request')
    // Largest first, cut to `top`.
    expect(report).toMatch(/by group:\n\s+80 {2}dist\/src\/api\n\s+40 {2}zod\nby function/)
    expect(report).not.toContain('(native or generated code)')
  })
})
