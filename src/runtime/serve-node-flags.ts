/**
 * The Node flags `gatehouse serve` runs with: `npm start` passes them, the cluster primary gives them to its workers,
 * and the benchmark starts the gateway with them. A flag the operator set already (on the command line or in
 * `NODE_OPTIONS`) is left as they set it.
 *
 * `--max-semi-space-size=32` (MiB; V8's default on 64-bit is 16): every request leaves tens of kilobytes of short-lived
 * objects behind, and with 64 requests in flight a small young generation is scavenged so often that objects of the
 * requests still in flight are copied again and again, and promoted. At 32 the gateway spent about a tenth less CPU
 * per plain request (`bench/measure-cost.ts`, four interleaved runs: 1.69 and 1.69 times the reference proxy against
 * 1.87 and 2.00), most of it in V8's collector threads; at 64 the peak RSS of 500 paced streams rose past 300 MiB.
 * V8 reads the size when the heap is made, so it cannot be set from inside the running process.
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
  '--max-semi-space-size=32',
  '--single-threaded-gc',
  '--heap-growing-percent=50',
]

/** A flag's name, in V8's `-` spelling, and the same for its `--no-` form (which sets it too, the other way). */
const flagName = (flag: string): string =>
  flag
    .split('=')[0]
    .replaceAll('_', '-')
    .replace(/^--no-/, '--')

/** `execArgv` with each of `serveNodeFlags` added unless the same flag is in it or in `nodeOptions` already. */
export const withServeNodeFlags = (execArgv: readonly string[], nodeOptions = ''): string[] => {
  const given = new Set(
    [...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map((flag) => flagName(flag))
  )
  return [...execArgv, ...serveNodeFlags.filter((flag) => !given.has(flagName(flag)))]
}
