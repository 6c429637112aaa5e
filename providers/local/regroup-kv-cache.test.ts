import { Tensor } from '@huggingface/transformers'
import { describe, expect, it } from 'vitest'
import { batchableCache, regroupKvCache, type KvCache } from './regroup-kv-cache.ts'

/** A `[batch, heads, width, 1]` cache whose value at each real position names its row, head and position. */
const cacheOf = (rows: number[][][], width: number): KvCache => {
  const heads = rows[0].length
  const data = new Float32Array(rows.length * heads * width)
  rows.forEach((row, batch) =>
    row.forEach((values, head) =>
      data.set(values, (batch * heads + head) * width + width - values.length)
    )
  )
  return { 'past_key_values.0.key': new Tensor('float32', data, [rows.length, heads, width, 1]) }
}

const rowsOf = (cache: KvCache): number[][][] => {
  const tensor = cache['past_key_values.0.key']
  const [batch, heads, width] = tensor.dims
  const data = Array.from(tensor.data as Float32Array)
  return Array.from({ length: batch }, (_, row) =>
    Array.from({ length: heads }, (_, head) =>
      data.slice((row * heads + head) * width, (row * heads + head + 1) * width)
    )
  )
}

describe('regroupKvCache', () => {
  it('keeps each row its own positions, right-aligned, and pads only what the widest row needs', () => {
    const running = cacheOf(
      [
        [
          [11, 12, 13],
          [21, 22, 23],
        ],
        [
          [31, 32],
          [41, 42],
        ],
      ],
      4
    )
    const joining = cacheOf(
      [
        [
          [51, 52, 53, 54, 55],
          [61, 62, 63, 64, 65],
        ],
      ],
      5
    )
    const joined = regroupKvCache(
      [
        { cache: running, row: 0, length: 3 },
        { cache: running, row: 1, length: 2 },
        { cache: joining, row: 0, length: 5 },
      ],
      5
    )
    expect(joined['past_key_values.0.key'].dims).toEqual([3, 2, 5, 1])
    expect(rowsOf(joined)).toEqual([
      [
        [0, 0, 11, 12, 13],
        [0, 0, 21, 22, 23],
      ],
      [
        [0, 0, 0, 31, 32],
        [0, 0, 0, 41, 42],
      ],
      [
        [51, 52, 53, 54, 55],
        [61, 62, 63, 64, 65],
      ],
    ])
    // The long row leaves: the padding before the others goes with it.
    const left = regroupKvCache(
      [
        { cache: joined, row: 1, length: 2 },
        { cache: joined, row: 0, length: 3 },
      ],
      3
    )
    expect(rowsOf(left)).toEqual([
      [
        [0, 31, 32],
        [0, 41, 42],
      ],
      [
        [11, 12, 13],
        [21, 22, 23],
      ],
    ])
  })

  it('batches only the standard four-dimensional key and value caches', () => {
    const kv = (name: string, shape = ['batch_size', 4, 'past_sequence_length', 8]) => ({
      name,
      shape,
    })
    expect(
      batchableCache([
        { name: 'input_ids' },
        kv('past_key_values.0.key'),
        kv('past_key_values.0.value'),
      ])
    ).toBe(true)
    expect(batchableCache([{ name: 'input_ids' }])).toBe(false)
    expect(
      batchableCache([kv('past_key_values.0.key'), kv('past_conv.0', ['batch_size', 8, 3])])
    ).toBe(false)
    expect(
      batchableCache([kv('past_key_values.0.key', ['batch_size x num_heads', 'past', 8])])
    ).toBe(false)
  })
})
