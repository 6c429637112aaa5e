/**
 * A seeded pseudo-random generator (xoshiro128**, https://prng.di.unimi.it/), one per generation: a request's `seed`
 * decides its samples alone, whatever runs beside it in the same worker (Transformers.js has only a global `random`).
 * Any integer seed works, negative or beyond 2^32: its 64 bits are spread over the 128-bit state with SplitMix32, so
 * nearby seeds give unrelated streams.
 */

const splitMix32 = (state: { value: number }): number => {
  state.value = (state.value + 0x9e3779b9) | 0
  let z = state.value
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** Returns uniform numbers in [0, 1). `seed` must be an integer (a safe one, or the same JSON number every time). */
export const createSeededRandom = (seed: number): (() => number) => {
  const bits = BigInt.asUintN(64, BigInt(seed))
  const mixer = { value: Number(bits & 0xffffffffn) | 0 }
  const high = Number(bits >> 32n) | 0
  let a = splitMix32(mixer)
  let b = splitMix32(mixer) ^ high
  let c = splitMix32(mixer)
  let d = splitMix32(mixer)
  // An all-zero state would stay zero forever.
  if ((a | b | c | d) === 0) a = 1
  return () => {
    const result = Math.imul(rotateLeft(Math.imul(b, 5), 7), 9) >>> 0
    const t = b << 9
    c ^= a
    d ^= b
    b ^= c
    a ^= d
    c ^= t
    d = rotateLeft(d, 11)
    return result / 4294967296
  }
}

const rotateLeft = (value: number, shift: number): number =>
  (value << shift) | (value >>> (32 - shift))
