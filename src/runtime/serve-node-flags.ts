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
 */
export const serveNodeFlags: readonly string[] = [
  '--max-semi-space-size=32',
  '--single-threaded-gc',
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
