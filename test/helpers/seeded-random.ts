/**
 * Deterministic uniform numbers in [0, 1) for randomised tests (mulberry32): integer arithmetic throughout, so the
 * sequence does not fall into a short cycle as a floating-point linear congruential generator does.
 */
export const seededRandom =
  (seed: number): (() => number) =>
  () => {
    seed = (seed + 0x6d2b79f5) | 0
    let value = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296
  }
