/**
 * A seeded generator (xoshiro128**, its state filled by SplitMix32), so the tiny model's weights are the same bytes
 * on every machine and every run. https://prng.di.unimi.it/
 *
 * Only integer operations and exact float arithmetic are used: no `Math.log`/`Math.cos` (a Box-Muller normal), whose
 * last bit may differ between JavaScript engines. `normal` sums four uniforms (Irwin-Hall) instead: close enough to
 * a Gaussian for initial weights, and bit-for-bit reproducible.
 */
export class SeededRandom {
  private readonly state: Uint32Array

  constructor(seed: number) {
    this.state = new Uint32Array(4)
    let mix = seed >>> 0
    for (let index = 0; index < 4; index += 1) {
      mix = (mix + 0x9e3779b9) >>> 0
      let z = mix
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      this.state[index] = (z ^ (z >>> 16)) >>> 0
    }
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextUint32(): number {
    const s = this.state
    const result = Math.imul(rotateLeft(Math.imul(s[1], 5), 7), 9) >>> 0
    const t = s[1] << 9
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotateLeft(s[3], 11)
    return result
  }

  /** A uniform number in [0, 1), with 32 random bits. */
  uniform(): number {
    return this.nextUint32() / 0x1_0000_0000
  }

  /** An integer in [0, bound). */
  integer(bound: number): number {
    return Math.floor(this.uniform() * bound)
  }

  /** An approximately normal number with mean 0 and standard deviation `scale`. */
  normal(scale = 1): number {
    const sum = this.uniform() + this.uniform() + this.uniform() + this.uniform()
    // Four uniforms have mean 2 and variance 4/12; sqrt(3) scales that to a standard deviation of 1.
    return (sum - 2) * SQRT_3 * scale
  }

  /** `values` shuffled in place (Fisher-Yates) and returned. */
  shuffle<T>(values: T[]): T[] {
    for (let index = values.length - 1; index > 0; index -= 1) {
      const other = this.integer(index + 1)
      ;[values[index], values[other]] = [values[other], values[index]]
    }
    return values
  }
}

const SQRT_3 = Math.sqrt(3)

const rotateLeft = (value: number, bits: number): number =>
  ((value << bits) | (value >>> (32 - bits))) >>> 0
