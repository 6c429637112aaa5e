/**
 * Microseconds on the machine's monotonic clock (`CLOCK_MONOTONIC`, libuv's `uv_hrtime`), the same in every process
 * of the machine: the mock stamps each paced chunk with it when it writes the chunk, and the load generator, another
 * process, subtracts the stamp from the chunk's arrival. `performance.now()` is that clock less the process's own
 * start, so one offset, taken once, turns it into the shared clock without a BigInt per reading.
 * https://nodejs.org/api/process.html#processhrtimebigint
 *
 * The offset is read between two `performance.now()` readings, and the tightest of several such brackets is kept:
 * a process descheduled between the two clocks' readings (a busy machine) would otherwise carry that pause in every
 * stamp, and two processes whose offsets erred apart by a millisecond measured chunks arriving before they were sent.
 */
const readOffsetMicros = (): number => {
  let best = Number.POSITIVE_INFINITY
  let offset = 0
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const before = performance.now() * 1_000
    const shared = Number(process.hrtime.bigint() / 1_000n)
    const after = performance.now() * 1_000
    if (after - before < best) {
      best = after - before
      offset = shared - (before + after) / 2
    }
    if (best <= 2) break
  }
  return offset
}

const offsetMicros = readOffsetMicros()

export const monotonicMicros = (): number => performance.now() * 1_000 + offsetMicros
