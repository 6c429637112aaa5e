/** The comparisons the generated models' tests make between vectors of numbers: logits, hidden states, embeddings. */

/** The largest absolute difference between `a` and `b`, element by element. */
export const largestDifference = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Array.from(a).reduce((largest, value, index) => Math.max(largest, Math.abs(value - b[index])), 0)

export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let dot = 0
  let normA = 0
  let normB = 0
  for (let index = 0; index < a.length; index += 1) {
    dot += a[index] * b[index]
    normA += a[index] ** 2
    normB += b[index] ** 2
  }
  return dot / Math.sqrt(normA * normB)
}

/** The index of the largest value, the first one on a tie: a greedy choice among logits. */
export const argmax = (values: ArrayLike<number>): number => {
  let best = 0
  for (let index = 1; index < values.length; index += 1) {
    if (values[index] > values[best]) best = index
  }
  return best
}

/**
 * Each row's mean over the positions its mask attends to, in float64, from hidden states [batch, sequence, width]
 * (`sequence` the length of the mask's rows): what a feature-extraction pipeline's mean pooling computes.
 */
export const meanPool = (hidden: Float32Array, mask: number[][], width: number): Float64Array[] =>
  mask.map((row, rowIndex) => {
    const pooled = new Float64Array(width)
    const count = row.reduce((sum, attended) => sum + attended, 0)
    row.forEach((attended, position) => {
      if (!attended) return
      const offset = (rowIndex * row.length + position) * width
      for (let k = 0; k < width; k += 1) pooled[k] += hidden[offset + k] / count
    })
    return pooled
  })
