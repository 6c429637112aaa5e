/**
 * Preloaded (`node --import`) into the gateway and the reference proxy the benchmark starts: counts the process's
 * garbage collection pauses on its main thread, by kind, with their total time and how many fell in each band of
 * length (`gcPauseBandsMs`), and keeps the running totals in `<GATEHOUSE_BENCH_GC_DIR>/<pid>.json`, written at start and then again (whole, by
 * a rename) at most every 100 ms while they change. The benchmark reads the file at both ends of each round, as it
 * reads the CPU time, and reports the pauses of the rounds (`read-gc-pauses.ts`). A pause of the event loop delays
 * every chunk that arrives during it, so the paced streams' added delay follows the scavenges' length.
 * Plain JavaScript, so it loads before anything else, in the built gateway as in the sources.
 * https://nodejs.org/api/perf_hooks.html#performanceentrydetail
 */
import { renameSync, writeFileSync } from 'node:fs'
import { constants, PerformanceObserver } from 'node:perf_hooks'
import process from 'node:process'
import { setInterval } from 'node:timers'
import { isMainThread } from 'node:worker_threads'

/** Upper bounds of the bands, in ms; the last band is everything from the last bound up. Keep in step with `read-gc-pauses.ts`. */
const gcPauseBandsMs = [1, 2, 4, 8, 16]

const directory = process.env.GATEHOUSE_BENCH_GC_DIR
if (isMainThread && directory !== undefined && directory !== '') {
  const kindNames = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  }
  const totals = {}
  let changed = false
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kindNames[entry.detail?.kind] ?? 'other'
      const total = (totals[kind] ??= {
        count: 0,
        ms: 0,
        bands: new Array(gcPauseBandsMs.length + 1).fill(0),
      })
      total.count += 1
      total.ms += entry.duration
      let band = gcPauseBandsMs.findIndex((bound) => entry.duration < bound)
      if (band === -1) band = gcPauseBandsMs.length
      total.bands[band] += 1
      changed = true
    }
  }).observe({ entryTypes: ['gc'] })
  const path = `${directory}/${process.pid}.json`
  const keep = () => {
    try {
      writeFileSync(`${path}.tmp`, JSON.stringify(totals))
      renameSync(`${path}.tmp`, path)
    } catch {
      // The folder is gone (the run is over): nothing to keep.
    }
  }
  // At once, so that the file says the probe is there before the first collection.
  keep()
  setInterval(() => {
    if (!changed) return
    changed = false
    keep()
  }, 100).unref()
}
