/**
 * Preloaded (`node --import`) into the gateway and the reference proxy by `measure-cost.ts` when `MEASURE_PROMISES=1`:
 * counts the promises the process's main thread makes (an `async_hooks` init hook; while a hook is on, V8 also makes
 * one for every `await`, which it otherwise leaves out, so awaits count too), and keeps the running count in
 * `<GATEHOUSE_BENCH_GC_DIR>/<pid>.promises.json` (`{ "promises": n }`), written at start and then again (whole, by a
 * rename) at most every 50 ms while it changes. `measure-cost.ts` reads it at both ends of each measured batch and
 * reports them per request: a promise is an allocation and, settled, a microtask, so the count is a measure of the
 * async layers on a request's path (43 a plain request in the gateway against 2 in the reference, 2026-12-06). The
 * hook makes every promise dearer: a counting run's CPU figures are not the process's own. It cannot tell an async
 * function that returns a promise from one that awaits it: without a hook, on Node 20, the first costs 101 ns in a
 * loop, the second 110 to 122, and a plain function returning the promise 56 to 59.
 * Plain JavaScript, so it loads before anything else, in the built gateway as in the sources.
 * https://nodejs.org/api/async_hooks.html#promise-execution-tracking
 */
import { createHook } from 'node:async_hooks'
import { renameSync, writeFileSync } from 'node:fs'
import process from 'node:process'
import { setInterval } from 'node:timers'
import { isMainThread } from 'node:worker_threads'

const directory = process.env.GATEHOUSE_BENCH_GC_DIR
if (isMainThread && directory !== undefined && directory !== '') {
  let promises = 0
  let written = -1
  createHook({
    init(_asyncId, type) {
      if (type === 'PROMISE') promises += 1
    },
  }).enable()
  const path = `${directory}/${process.pid}.promises.json`
  const keep = () => {
    if (promises === written) return
    written = promises
    try {
      writeFileSync(`${path}.tmp`, JSON.stringify({ promises }))
      renameSync(`${path}.tmp`, path)
    } catch {
      // The folder is gone (the run is over): nothing to keep.
    }
  }
  keep()
  setInterval(keep, 50).unref()
}
