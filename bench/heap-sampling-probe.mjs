/**
 * Preloaded (`node --import`) into the gateway, a baseline gateway and the reference proxy by `measure-cost.ts` when
 * `MEASURE_HEAP=1`: V8's sampling heap profiler over each measured batch, which `measure-cost.ts` opens and closes
 * with SIGUSR2 (the first signal starts sampling, the next stops it). The profile counts every sampled allocation of
 * the main thread, those the collector has taken since included (`includeObjectsCollectedByMinorGC` and `...MajorGC`),
 * so it says what a request allocates, not what it keeps; one sample every `GATEHOUSE_BENCH_HEAP_INTERVAL` bytes
 * (default 512), each scaled by V8 to the bytes it stands for. A batch's profile is written whole (by a rename) as
 * `<GATEHOUSE_BENCH_GC_DIR>/<pid>.<batch>.heapprofile`, read by `read-heap-profile.ts`. Sampling slows the process:
 * a heap run's CPU figures are not the process's own.
 * Plain JavaScript, so it loads before anything else, in the built gateway as in the sources.
 * https://chromedevtools.github.io/devtools-protocol/tot/HeapProfiler/#method-startSampling
 */
import { renameSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import process from 'node:process'
import { isMainThread } from 'node:worker_threads'

const directory = process.env.GATEHOUSE_BENCH_GC_DIR
const interval = Number(process.env.GATEHOUSE_BENCH_HEAP_INTERVAL ?? 512)
if (isMainThread && directory !== undefined && directory !== '') {
  const session = new Session()
  session.connect()
  let sampling = false
  let batch = 0
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true
      session.post('HeapProfiler.startSampling', {
        samplingInterval: interval,
        includeObjectsCollectedByMinorGC: true,
        includeObjectsCollectedByMajorGC: true,
      })
      return
    }
    sampling = false
    const path = `${directory}/${process.pid}.${batch}.heapprofile`
    batch += 1
    session.post('HeapProfiler.stopSampling', (error, result) => {
      if (error !== null) return
      try {
        writeFileSync(`${path}.tmp`, JSON.stringify(result.profile))
        renameSync(`${path}.tmp`, path)
      } catch {
        // The folder is gone (the run is over): nothing to keep.
      }
    })
  })
}
