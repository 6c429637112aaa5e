import { describe, expect, it } from 'vitest'
import {
  compareCpuProfiles,
  readCpuProfile,
  shortScript,
  type CpuProfile,
} from './read-cpu-profile.ts'

const frame = (functionName: string, url = '', lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
})

/**
 * root → main (app.js) → parse (node_modules/undici/lib/util.js) and → render (app.js) → parse again; plus idle.
 * Samples (ids) with their spans: the span of a sample is the next sample's delta.
 */
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 6] },
    { id: 2, callFrame: frame('main', 'file:///srv/app.js', 9), children: [3, 4] },
    { id: 3, callFrame: frame('parse', 'file:///srv/node_modules/undici/lib/util.js', 41) },
    { id: 4, callFrame: frame('render', 'file:///srv/app.js', 19), children: [5] },
    { id: 5, callFrame: frame('parse', 'file:///srv/node_modules/undici/lib/util.js', 41) },
    { id: 6, callFrame: frame('(idle)') },
  ],
  //          main  parse  render  parse(under render)  idle  main
  samples: [2, 3, 4, 5, 6, 2],
  timeDeltas: [0, 10, 20, 30, 40, 50],
}

describe('readCpuProfile', () => {
  it('gives each function its self time, a sample lasting until the next, idle apart', () => {
    const totals = readCpuProfile(profile)
    expect(totals.idleMicros).toBe(50)
    // The last sample's span is unknown: it counts nothing.
    expect(totals.busyMicros).toBe(10 + 20 + 30 + 40)
    expect(totals.rows).toEqual([
      {
        label: 'parse undici/lib/util.js:42',
        micros: 60,
      },
      { label: 'render /srv/app.js:20', micros: 30 },
      { label: 'main /srv/app.js:10', micros: 10 },
    ])
  })

  it('adds up self time by script', () => {
    const rows = readCpuProfile(profile, { grouping: 'file' }).rows
    expect(rows).toEqual([
      { label: 'undici/lib/util.js', micros: 60 },
      { label: '/srv/app.js', micros: 40 },
    ])
  })

  it('counts a function with all it called, once per sample', () => {
    const rows = readCpuProfile(profile, { grouping: 'inclusive' }).rows
    expect(rows).toContainEqual({ label: 'main /srv/app.js:10', micros: 100 })
    expect(rows).toContainEqual({ label: 'render /srv/app.js:20', micros: 70 })
    expect(rows).toContainEqual({ label: '(root)', micros: 100 })
  })

  it('keeps only the samples below a function when asked', () => {
    const totals = readCpuProfile(profile, { under: /^render / })
    expect(totals.busyMicros).toBe(70)
    expect(totals.rows.map((row) => [row.label.split(' ')[0], row.micros])).toEqual([
      ['parse', 40],
      ['render', 30],
    ])
  })
})

describe('compareCpuProfiles', () => {
  it('sets the gateway against the reference row by row, the largest excess first', () => {
    const totals = (...rows: [string, number][]) => ({
      busyMicros: rows.reduce((sum, [, micros]) => sum + micros, 0),
      idleMicros: 0,
      rows: rows.map(([label, micros]) => ({ label, micros })),
    })
    const reference = totals(['a', 30], ['b', 20])
    const gateway = totals(['a', 35], ['c', 55])
    expect(compareCpuProfiles(reference, gateway)).toEqual([
      { label: 'c', reference: 0, gateway: 55, more: 55 },
      { label: 'a', reference: 30, gateway: 35, more: 5 },
      { label: 'b', reference: 20, gateway: 0, more: -20 },
    ])
  })
})

describe('shortScript', () => {
  it('names a package file from the package, a Node module as itself', () => {
    expect(shortScript('file:///x/node_modules/@hono/node-server/dist/index.mjs')).toBe(
      '@hono/node-server/dist/index.mjs'
    )
    expect(shortScript('node:events')).toBe('node:events')
    expect(shortScript('')).toBe('')
  })

  it("names the repository's own files from its root", () => {
    expect(shortScript(new URL('../dist/src/app.js', import.meta.url).href)).toBe('dist/src/app.js')
  })
})
