/**
 * The difference of two targets measured in the same interleaved rounds (`measure-cost.ts`, `MEASURE_BASELINE`), read
 * round by round: each round's batches of the two run seconds apart, so what the machine's speed does over a run
 * weighs on both halves of a round's difference alike, and the spread of the differences says how far their mean can
 * be trusted. Two standard errors of the mean: about a 95% interval when the rounds' differences are roughly normal
 * and independent (a few rounds give a rough one; take twelve or more).
 */
export type PairedDifference = {
  /** `a[i] - b[i]`, round by round. */
  differences: number[]
  mean: number
  /** Two standard errors of the mean; `null` with fewer than two rounds. */
  halfWidth: number | null
}

export const pairedDifference = (a: readonly number[], b: readonly number[]): PairedDifference => {
  if (a.length !== b.length || a.length === 0)
    throw new Error(`paired rounds: ${a.length} against ${b.length}`)
  const differences = a.map((value, index) => value - b[index])
  const mean = differences.reduce((sum, value) => sum + value, 0) / differences.length
  if (differences.length < 2) return { differences, mean, halfWidth: null }
  const variance =
    differences.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (differences.length - 1)
  return { differences, mean, halfWidth: 2 * Math.sqrt(variance / differences.length) }
}

/** `+1.2 ± 0.8` (or `+1.2` alone, with one round), in the unit the caller names. */
export const formatPairedDifference = (paired: PairedDifference, digits = 1): string => {
  const signed = (value: number): string => `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`
  return paired.halfWidth === null
    ? signed(paired.mean)
    : `${signed(paired.mean)} ± ${paired.halfWidth.toFixed(digits)}`
}
