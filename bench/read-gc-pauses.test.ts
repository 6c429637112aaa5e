import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import {
  addGcTotals,
  gcMeter,
  gcPausesBetween,
  readGcTotals,
  summarizeGc,
  type GcTotals,
} from './read-gc-pauses.ts'

const probe = fileURLToPath(new URL('./gc-probe.mjs', import.meta.url))
const folders: string[] = []
const folder = (): string => {
  const made = mkdtempSync(join(tmpdir(), 'gatehouse-gc-probe-'))
  folders.push(made)
  return made
}
afterEach(() => {
  for (const made of folders.splice(0)) rmSync(made, { recursive: true, force: true })
})

/** Runs `script` on plain node with the probe preloaded, keeping its totals in `directory`; resolves with its pid. */
const runWithProbe = (directory: string, script: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', probe, '--expose-gc', '-e', script], {
      env: { PATH: process.env.PATH, GATEHOUSE_BENCH_GC_DIR: directory },
      stdio: 'ignore',
    })
    child.once('error', reject)
    child.once('exit', (code) =>
      code === 0 ? resolve(child.pid as number) : reject(new Error(`exited with ${code}`))
    )
  })

describe('gc-probe.mjs and its reader', () => {
  it('counts the pauses of a process by kind, and what happened between two readings', async () => {
    const directory = folder()
    // Young garbage for scavenges, two full collections, then long enough for the probe to write its totals.
    const pid = await runWithProbe(
      directory,
      'let keep; for (let i = 0; i < 3e6; i++) keep = { i, s: String(i) }; gc(); gc(); setTimeout(() => {}, 400)'
    )
    const totals = readGcTotals(directory, pid)
    expect(totals).not.toBeNull()
    const summary = summarizeGc(totals)
    expect(summary?.scavenges).toBeGreaterThan(0)
    expect(summary?.fullCollections).toBeGreaterThanOrEqual(2)
    expect(summary?.scavengeMeanMs).toBeGreaterThan(0)
    const minor = totals?.minor
    expect(minor?.bands.reduce((sum, band) => sum + band, 0)).toBe(minor?.count)
    // Nothing happens between two readings of a process that has ended.
    expect(summarizeGc(gcPausesBetween(totals as GcTotals, totals as GcTotals))?.scavenges).toBe(0)
  })

  it('writes its file at start, so a process that has not collected yet reads as none rather than unknown', async () => {
    const directory = folder()
    const pid = await runWithProbe(directory, '')
    expect(readGcTotals(directory, pid)).toEqual({})
  })

  it('is unknown for a process without the probe, and a sum with an unknown part is unknown', () => {
    const directory = folder()
    expect(readGcTotals(directory, 12345)).toBeNull()
    expect(gcMeter(directory, 12345)()).toBeNull()
    expect(gcMeter(directory, null)()).toBeNull()
    writeFileSync(join(directory, '7.json'), JSON.stringify({ minor: { count: 'many' } }))
    expect(readGcTotals(directory, 7)).toBeNull()
    expect(addGcTotals({}, null)).toBeNull()
  })

  it('subtracts and adds by kind and band, and summarizes the scavenges', () => {
    const before: GcTotals = { minor: { count: 2, ms: 3, bands: [0, 1, 1, 0, 0, 0] } }
    const after: GcTotals = {
      minor: { count: 6, ms: 19, bands: [0, 1, 2, 2, 1, 0] },
      major: { count: 1, ms: 9, bands: [0, 0, 0, 0, 1, 0] },
    }
    const round = gcPausesBetween(before, after)
    expect(round).toEqual({
      minor: { count: 4, ms: 16, bands: [0, 0, 1, 2, 1, 0] },
      major: { count: 1, ms: 9, bands: [0, 0, 0, 0, 1, 0] },
    })
    const both = addGcTotals(round, round)
    expect(summarizeGc(both)).toEqual({
      scavenges: 8,
      scavengeMeanMs: 4,
      scavengesFrom4Ms: 0.75,
      scavengeMs: 32,
      fullCollections: 2,
      fullCollectionMs: 18,
    })
    expect(summarizeGc({})).toEqual({
      scavenges: 0,
      scavengeMeanMs: 0,
      scavengesFrom4Ms: 0,
      scavengeMs: 0,
      fullCollections: 0,
      fullCollectionMs: 0,
    })
  })
})
