/**
 * Picks the next token from a row of logits the way OpenAI and Anthropic document their sampling parameters:
 * `temperature` 0 is greedy (the most likely token); otherwise the logits are divided by the temperature, `topK`
 * keeps the k most likely tokens (0: all), `topP` then keeps the smallest set of the most likely whose probabilities
 * (renormalised after top-k) add up to at least `topP` (1: all), and one token is drawn from what is left with
 * `random`. The order is Hugging Face's (temperature, top-k, top-p).
 *
 * Finding the most likely tokens does not sort the vocabulary: sorting 150,000 logits takes some 20 ms, once per
 * token. Tokens are put in buckets by log-probability instead, and only the one bucket where the cut falls is sorted.
 */

export type SamplingSettings = {
  /** 0: greedy. */
  temperature: number
  /** 0: no limit. */
  topK: number
  /** 1: no limit. */
  topP: number
  /** Uniform in [0, 1). */
  random: () => number
}

const bucketCount = 1024

const argmax = (logits: Float32Array): number => {
  let best = 0
  for (let index = 1; index < logits.length; index += 1)
    if (logits[index] > logits[best]) best = index
  return best
}

const byLikelihood =
  (weights: Float64Array) =>
  (a: number, b: number): number =>
    weights[b] - weights[a] || a - b

/**
 * The most likely of `pool`, until `enough(count, weight)` holds for what was taken: exactly the set a full sort by
 * likelihood (ties: the lower index first) would give. `logs` are the log-weights (0 for the most likely, finite).
 * A small pool is simply sorted; a large one is counted into buckets by log-weight first (a counting sort), and only
 * the bucket where the cut falls is sorted.
 */
const takeMostLikely = (options: {
  pool: readonly number[]
  weights: Float64Array
  logs: Float64Array
  enough: (count: number, weight: number) => boolean
}): number[] => {
  const { pool, weights, logs, enough } = options
  const taken: number[] = []
  let weight = 0
  if (pool.length <= bucketCount) {
    for (const index of [...pool].sort(byLikelihood(weights))) {
      taken.push(index)
      weight += weights[index]
      if (enough(taken.length, weight)) break
    }
    return taken
  }
  let lowest = 0
  for (const index of pool) lowest = Math.min(lowest, logs[index])
  const scale = lowest === 0 ? 0 : (bucketCount - 1) / -lowest
  // Bucket 0 holds the most likely tokens.
  const bucketOf = new Int32Array(pool.length)
  const starts = new Int32Array(bucketCount + 1)
  const bucketWeights = new Float64Array(bucketCount)
  for (let position = 0; position < pool.length; position += 1) {
    const bucket = Math.floor(-logs[pool[position]] * scale)
    bucketOf[position] = bucket
    starts[bucket + 1] += 1
    bucketWeights[bucket] += weights[pool[position]]
  }
  for (let bucket = 0; bucket < bucketCount; bucket += 1) starts[bucket + 1] += starts[bucket]
  const ordered = new Int32Array(pool.length)
  const next = starts.slice(0, bucketCount)
  for (let position = 0; position < pool.length; position += 1)
    ordered[next[bucketOf[position]]++] = pool[position]
  for (let bucket = 0; bucket < bucketCount; bucket += 1) {
    const members = ordered.subarray(starts[bucket], starts[bucket + 1])
    if (members.length === 0) continue
    if (!enough(taken.length + members.length, weight + bucketWeights[bucket])) {
      for (const index of members) taken.push(index)
      weight += bucketWeights[bucket]
      continue
    }
    for (const index of Array.from(members).sort(byLikelihood(weights))) {
      taken.push(index)
      weight += weights[index]
      if (enough(taken.length, weight)) return taken
    }
  }
  return taken
}

/** Returns the index of the chosen token. Logits of `-Infinity` (tokens a processor ruled out) are never chosen. */
export const sampleToken = (logits: Float32Array, settings: SamplingSettings): number => {
  const { temperature, topK, topP, random } = settings
  const best = argmax(logits)
  const max = logits[best]
  if (temperature === 0 || max === Number.NEGATIVE_INFINITY) return best
  const weights = new Float64Array(logits.length)
  const logs = new Float64Array(logits.length)
  let pool: number[] = []
  let total = 0
  for (let index = 0; index < logits.length; index += 1) {
    if (logits[index] === Number.NEGATIVE_INFINITY) continue
    logs[index] = (logits[index] - max) / temperature
    weights[index] = Math.exp(logs[index])
    total += weights[index]
    pool.push(index)
  }
  if (topK > 0 && topK < pool.length) {
    pool = takeMostLikely({ pool, weights, logs, enough: (count) => count >= topK })
    total = pool.reduce((sum, index) => sum + weights[index], 0)
  }
  if (topP < 1) {
    const target = topP * total
    pool = takeMostLikely({ pool, weights, logs, enough: (_, weight) => weight >= target })
    total = pool.reduce((sum, index) => sum + weights[index], 0)
  }
  let left = random() * total
  for (const index of pool) {
    left -= weights[index]
    if (left < 0) return index
  }
  // Rounding can leave a sliver past the last token: it is the last one's.
  return pool[pool.length - 1]
}
