/**
 * The KV cache of a batch of generations that share their forward passes (`create-generation-batcher.ts`). Each cache
 * tensor is `[batch, heads, width, head_dim]`; every row holds its own sequence's keys and values at the end of the
 * width, after zeros that the attention mask hides (left padding), so that one decoding step appends one position to
 * every row at once. When rows join (a prefilled prompt) or leave (a finished generation), the rows that stay are
 * copied into new tensors as wide as the longest of them: padding that no row needs any more goes.
 */
import { Tensor } from '@huggingface/transformers'

/** Cache tensors by input name (`past_key_values.<layer>.key|value`). */
export type KvCache = Record<string, Tensor>

/** A row of a new cache: row `row` of `cache`, whose last `length` positions are its sequence. */
export type KvRow = { cache: KvCache; row: number; length: number }

type Float = Float32Array | Uint16Array

/** The cache holding `rows`, in that order, `width` positions wide (at least their longest `length`). */
export const regroupKvCache = (rows: readonly KvRow[], width: number): KvCache => {
  const names = Object.keys(rows[0].cache)
  const regrouped: KvCache = {}
  for (const name of names) {
    const first = rows[0].cache[name]
    const [, heads, , headDim] = first.dims
    const Type = (first.data as Float).constructor as new (length: number) => Float
    const data = new Type(rows.length * heads * width * headDim)
    rows.forEach(({ cache, row, length }, index) => {
      const source = cache[name]
      const sourceWidth = source.dims[2]
      const sourceData = source.data as Float
      for (let head = 0; head < heads; head += 1) {
        const from = ((row * heads + head) * sourceWidth + sourceWidth - length) * headDim
        const to = ((index * heads + head) * width + width - length) * headDim
        data.set(sourceData.subarray(from, from + length * headDim), to)
      }
    })
    regrouped[name] = new Tensor(first.type, data, [rows.length, heads, width, headDim])
  }
  return regrouped
}

/**
 * Whether a model's cache inputs can be batched this way: every one a `past_key_values.<layer>.key|value` of four
 * dimensions, positions third (the standard decoder export). Models with other state (Mamba's, LFM2's convolutions)
 * generate one at a time.
 */
export const batchableCache = (
  inputs: readonly { name: string; isTensor?: boolean; shape?: readonly (number | string)[] }[]
): boolean => {
  const cacheInputs = inputs.filter((input) => input.name.startsWith('past_'))
  return (
    cacheInputs.length > 0 &&
    cacheInputs.every(
      (input) => /^past_key_values\.\d+\.(key|value)$/.test(input.name) && input.shape?.length === 4
    )
  )
}
