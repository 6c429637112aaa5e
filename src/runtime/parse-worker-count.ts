/** `--workers` of `gatehouse serve`: how many processes serve (`serve-cluster.ts`). */
import { availableParallelism } from 'node:os'

/** The most workers `--workers` accepts: a typo of a few digits should not fork thousands of processes. */
export const maxWorkers = 1024

/** A `--workers` value that is neither a count nor `auto`; the CLI shows its message as a usage error. */
export class WorkerCountError extends Error {
  override readonly name = 'WorkerCountError'
}

/** Unset: 1 (one process, no cluster). `auto`: one per core the process may use (`os.availableParallelism()`). */
export const parseWorkerCount = (
  value: string | undefined,
  cores: number = availableParallelism()
): number => {
  if (value === undefined) return 1
  if (value === 'auto') return Math.min(Math.max(cores, 1), maxWorkers)
  const count = /^[1-9][0-9]*$/.test(value) ? Number(value) : Number.NaN
  if (!(count <= maxWorkers))
    throw new WorkerCountError(
      `--workers: expected a whole number from 1 to ${maxWorkers}, or auto; got "${value}"`
    )
  return count
}
