/**
 * Microseconds on the machine's monotonic clock (`CLOCK_MONOTONIC`, libuv's `uv_hrtime`), the same in every process
 * of the machine: the mock stamps each paced chunk with it when it writes the chunk, and the load generator, another
 * process, subtracts the stamp from the chunk's arrival. `performance.now()` is that clock less the process's own
 * start, so one offset, taken once, turns it into the shared clock without a BigInt per reading.
 * https://nodejs.org/api/process.html#processhrtimebigint
 */
const offsetMicros = Number(process.hrtime.bigint() / 1_000n) - performance.now() * 1_000

export const monotonicMicros = (): number => performance.now() * 1_000 + offsetMicros
