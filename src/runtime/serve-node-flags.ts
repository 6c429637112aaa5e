import { setFlagsFromString } from 'node:v8'

/**
 * The Node flags `gatehouse serve` runs with: `npm start` passes them, the cluster primary gives them to its workers,
 * and the benchmark starts the gateway with them. A flag the operator set already (on the command line or in
 * `NODE_OPTIONS`) is left as they set it.
 *
 * `--max-semi-space-size=16` (MiB): V8's own default on 64-bit today, set so that it stays the gateway's whatever a
 * Node release picks. The young generation's size trades the number of scavenges against their length. With 500
 * streams at once, a scavenge keeps what the streams begun since the last one hold for their lives, so its pause grows
 * with the young generation: 4.5 to 5.8 ms a scavenge at 16 MiB against 6 to 9 at 32, which is what the chunks of
 * every stream wait out (the paced streams' added delay p99 follows it), and a peak RSS of 196 to 223 against 252 to
 * 261 MiB (`npm run bench`, 2026-12-07). Plain requests cost about the same: 493k against 510k instructions a request
 * at 16 and 32 (`bench/measure-cost.ts` under callgrind, both slot orders; 8 within 2% of 16), and at full rate the
 * gateway scavenges twice as often for some 2% more of its time, within the run-to-run noise of the throughput
 * ratio. The 32 shipped until then had been chosen by CPU time (a tenth less per request), measured when V8 still
 * scavenged on helper threads, on a machine where CPU time moves by more than that from run to run.
 *
 * `--single-threaded-gc`: V8 collects on the main thread alone, without helper threads (no parallel scavenges, no
 * concurrent marking). With a local model generating, its worker thread keeps a core busy; a parallel scavenge then
 * stalls the event loop until its helper tasks get a core, and the helpers compete with the model. With the flag, the
 * gateway's event loop p99 delay while eight local streams generated went from 5.5 to 6.4 ms to 1.5 to 2.9 ms, and
 * the model's batched throughput rose (`bench/local-model-bench.ts`, quiet machine); a plain request's CPU and the
 * 200 req/s p99 did not change (153 against 154 µs; the p99 within noise), and the paced streams' peak RSS fell
 * (279 to 262 MiB). The gateway's heap is tens of MiB, where concurrent marking saves little. An operator with a
 * large heap and spare cores can pass `--no-single-threaded-gc`.
 *
 * `--heap-growing-percent=50`: after each full collection V8 lets the old generation grow to its live size times a
 * factor it picks from how fast it collects, up to 4 for a small heap collected quickly, which the gateway's is (tens
 * of MiB live). With 500 paced streams at once, everything a stream holds for its 4 s outlives the young generation
 * and is promoted, and the old generation grew to 130 MiB of mostly garbage before each full collection (the peak
 * RSS of the paced streams without usage asked was 330 MiB after the full-rate scenarios). A fixed factor of 1.5
 * collects it sooner: 249 MiB for the same run, and a plain request's and a stream's CPU did not change
 * (`bench/measure-cost.ts`, alternating runs: 76.7 and 74.3 against 77.0 and 80.7 µs a plain request; 143.7 and
 * 137.5 against 130.0 and 145.0 µs a stream). An operator with a large heap can pass `--heap-growing-percent=0`
 * (V8's own choice).
 */
export const serveNodeFlags: readonly string[] = [
  '--max-semi-space-size=16',
  '--single-threaded-gc',
  '--heap-growing-percent=50',
]

/** A flag's name, in V8's `-` spelling, and the same for its `--no-` form (which sets it too, the other way). */
const flagName = (flag: string): string =>
  flag
    .split('=')[0]
    .replaceAll('_', '-')
    .replace(/^--no-/, '--')

/** Those of `flags` that neither `execArgv` nor `nodeOptions` sets already, either way (`flagName`). */
const notGiven = (
  flags: readonly string[],
  execArgv: readonly string[],
  nodeOptions: string
): string[] => {
  const given = new Set(
    [...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map((flag) => flagName(flag))
  )
  return flags.filter((flag) => !given.has(flagName(flag)))
}

/** `execArgv` with each of `serveNodeFlags` added unless the same flag is in it or in `nodeOptions` already. */
export const withServeNodeFlags = (execArgv: readonly string[], nodeOptions = ''): string[] => [
  ...execArgv,
  ...notGiven(serveNodeFlags, execArgv, nodeOptions),
]

/**
 * V8 flags `gatehouse serve` sets from inside its own process as it starts (`applyServeV8Flags`), however it was
 * started (`npm start`, `npx gatehouse serve`, a container's command, a `--workers` worker): V8 reads them at each
 * collection, not when the heap is made, so unlike `serveNodeFlags` they need no command line.
 *
 * `--no-allocation-site-pretenuring`: V8 watches, per allocation site (an object or array literal in the code), how
 * many of its objects survive a scavenge, and when nearly all of a site's do (85% or more in one young-generation
 * collection, a few hundred objects sampled) it allocates that site's objects in the old generation from then on.
 * The gateway's objects live for one request; a site looks long-lived only when a scavenge catches a burst of slow
 * requests in flight, as the first requests of a process are (code not yet optimized) or any on a machine slowed by
 * its neighbours. Once a request's own objects are allocated old, though, they are roots for every later scavenge
 * until the next full collection, and everything they point to (the rest of the request: its context, headers,
 * parsed body, upstream answer) survives with them and is promoted: scavenges then kept 4 to 8 MB instead of 1 and
 * promoted 2.5 to 7 MB instead of 0.3, took 12 to 17 ms instead of 3 to 4, and the process made 20 to 37 full
 * collections where it made 5, for 30 to 60% more CPU per request, for the rest of its life. It happened to 7 of 16
 * `bench/measure-cost.ts plain` runs in one hour and 8 of 18 in another, with `pretenuring: ... => tenure` decisions
 * in V8's trace (`--trace-pretenuring-statistics`) of the runs that fell into it; with the flag, 0 of 17 (a plain
 * request's CPU otherwise the same: 1.15 to 1.54 times the reference's, as before). Nothing the gateway keeps for
 * long is allocated in bulk, so pretenuring has nothing to win here. An operator can pass
 * `--allocation-site-pretenuring` to keep V8's behaviour.
 */
export const serveV8Flags: readonly string[] = ['--no-allocation-site-pretenuring']

/** `serveV8Flags` but those the operator set already, either way, on the command line or in `nodeOptions`. */
export const serveV8FlagsToSet = (execArgv: readonly string[], nodeOptions = ''): string[] =>
  notGiven(serveV8Flags, execArgv, nodeOptions)

/** Sets `serveV8FlagsToSet` in this process (`v8.setFlagsFromString`); returns the flags it set. */
export const applyServeV8Flags = (
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? ''
): string[] => {
  const flags = serveV8FlagsToSet(execArgv, nodeOptions)
  for (const flag of flags) setFlagsFromString(flag)
  return flags
}
