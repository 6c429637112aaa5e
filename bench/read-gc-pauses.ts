/**
 * The garbage collection pauses of a process the benchmark started, as `gc-probe.mjs` (preloaded into it) keeps
 * them: running totals by kind, read at both ends of a round and subtracted, then added up over the rounds of a
 * target, as its CPU time is. `null` wherever the file could not be read (the direct call, a process without the
 * probe), and from then on for that target: a sum that misses rounds would say less than happened.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** Upper bounds of the pause bands, in ms (the last band is everything from 16 ms up); `gc-probe.mjs` uses the same. */
export const gcPauseBandsMs = [1, 2, 4, 8, 16] as const

export type GcPauses = {
  count: number
  ms: number
  /** How many pauses fell in each band of `gcPauseBandsMs`, and from its last bound up. */
  bands: number[]
}

/** By V8's kind: `minor` is a scavenge of the young generation, `major` a full mark-compact. */
export type GcTotals = Partial<
  Record<'minor' | 'major' | 'incremental' | 'weakcb' | 'other', GcPauses>
>

const kinds = ['minor', 'major', 'incremental', 'weakcb', 'other'] as const

const emptyPauses = (): GcPauses => ({
  count: 0,
  ms: 0,
  bands: new Array<number>(gcPauseBandsMs.length + 1).fill(0),
})

const isPauses = (value: unknown): value is GcPauses => {
  if (typeof value !== 'object' || value === null) return false
  const pauses = value as Record<string, unknown>
  return (
    typeof pauses.count === 'number' &&
    typeof pauses.ms === 'number' &&
    Array.isArray(pauses.bands) &&
    pauses.bands.length === gcPauseBandsMs.length + 1 &&
    pauses.bands.every((band) => typeof band === 'number')
  )
}

/** The totals so far of process `pid`; `null` when there are none to read (a process without the probe). */
export const readGcTotals = (directory: string, pid: number): GcTotals | null => {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(join(directory, `${pid}.json`), 'utf8'))
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const totals: GcTotals = {}
  for (const kind of kinds) {
    const value = (parsed as Record<string, unknown>)[kind]
    if (value === undefined) continue
    if (!isPauses(value)) return null
    totals[kind] = value
  }
  return totals
}

const combine = (a: GcTotals, b: GcTotals, sign: 1 | -1): GcTotals => {
  const out: GcTotals = {}
  for (const kind of kinds) {
    const left = a[kind]
    const right = b[kind]
    if (left === undefined && right === undefined) continue
    const first = left ?? emptyPauses()
    const second = right ?? emptyPauses()
    out[kind] = {
      count: first.count + sign * second.count,
      ms: first.ms + sign * second.ms,
      bands: first.bands.map((band, index) => band + sign * second.bands[index]),
    }
  }
  return out
}

/** What happened between two readings of the same process. */
export const gcPausesBetween = (before: GcTotals, after: GcTotals): GcTotals =>
  combine(after, before, -1)

/** Two sums of pauses as one (`null` stays `null`). */
export const addGcTotals = (a: GcTotals | null, b: GcTotals | null): GcTotals | null =>
  a === null || b === null ? null : combine(a, b, 1)

/** Starts a reading of `pid`'s pauses; the function returned ends it (`null` when either end was not read). */
export const gcMeter = (directory: string | null, pid: number | null) => {
  const read = (): GcTotals | null =>
    directory === null || pid === null ? null : readGcTotals(directory, pid)
  const before = read()
  return (): GcTotals | null => {
    const after = read()
    return before === null || after === null ? null : gcPausesBetween(before, after)
  }
}

/** The figures the report gives: scavenges (count, mean, the share of 4 ms or longer) and full collections. */
export type GcSummary = {
  scavenges: number
  scavengeMeanMs: number
  /** The share (0 to 1) of scavenges that paused the event loop 4 ms or longer. */
  scavengesFrom4Ms: number
  scavengeMs: number
  fullCollections: number
  fullCollectionMs: number
}

export const summarizeGc = (totals: GcTotals | null): GcSummary | null => {
  if (totals === null) return null
  const minor = totals.minor ?? emptyPauses()
  const major = totals.major ?? emptyPauses()
  const from4 = gcPauseBandsMs.indexOf(4) + 1
  const long = minor.bands.slice(from4).reduce((sum, band) => sum + band, 0)
  return {
    scavenges: minor.count,
    scavengeMeanMs: minor.count === 0 ? 0 : minor.ms / minor.count,
    scavengesFrom4Ms: minor.count === 0 ? 0 : long / minor.count,
    scavengeMs: minor.ms,
    fullCollections: major.count,
    fullCollectionMs: major.ms,
  }
}
