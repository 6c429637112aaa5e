/**
 * The generated feature-extraction graphs run in onnxruntime-node and compute what a GPT-2 encoder must: the last
 * hidden state after the final layer norm, causal, and a row of a left- or right-padded batch pooled over its mask
 * gives the vector it gets alone, in float32 and in int8.
 */
import type ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { int64, ones, openOnnxGraphs } from './onnx-test-runs.ts'
import type { OnnxGraphs } from './onnx-test-runs.ts'
import { cosine, largestDifference, meanPool } from './vector-math.ts'
import { embeddingModelShape, writeEmbeddingModel } from './write-embedding-model.ts'

const { nEmbd: width } = embeddingModelShape
const pad = 317

let graphs: OnnxGraphs

beforeAll(async () => {
  graphs = await openOnnxGraphs('embedding-model-ort-', writeEmbeddingModel)
})

afterAll(() => graphs?.close())

/** The last hidden state [batch, sequence, width] of one run. */
const hiddenStates = async (
  target: ort.InferenceSession,
  ids: number[][],
  mask: number[][]
): Promise<Float32Array> => {
  const outputs = await target.run({ input_ids: int64(ids), attention_mask: int64(mask) })
  expect(outputs.last_hidden_state.dims).toEqual([ids.length, ids[0].length, width])
  return outputs.last_hidden_state.data as Float32Array
}

const embed = async (target: ort.InferenceSession, ids: number[]): Promise<Float64Array> => {
  const mask = [ones(ids.length)]
  return meanPool(await hiddenStates(target, [ids], mask), mask, width)[0]
}

const bytes = (text: string): number[] => [...new TextEncoder().encode(text)]

/** `rows` padded to one width with `padId`, on the left or the right, and their masks. */
const padBatch = (
  rows: number[][],
  side: 'left' | 'right',
  padId = pad
): { ids: number[][]; mask: number[][] } => {
  const length = Math.max(...rows.map((row) => row.length))
  const fill = <T>(row: T[], value: T): T[] => {
    const padding = Array.from({ length: length - row.length }, () => value)
    return side === 'left' ? [...padding, ...row] : [...row, ...padding]
  }
  return {
    ids: rows.map((row) => fill(row, padId)),
    mask: rows.map((row) => fill(ones(row.length), 0)),
  }
}

// Byte ids of ASCII text: any ids below the vocabulary size would do.
const texts = [
  bytes('The quick brown fox jumps over the lazy dog.'),
  bytes('hi'),
  bytes('Gatehouse answers from a local model when providers are down.'),
  bytes('A short one'),
]

describe('the embedding model in onnxruntime-node', () => {
  it('declares the inputs and output of the GPT-2 feature-extraction export, and nothing else', () => {
    for (const target of [graphs.float, graphs.int8]) {
      expect(target.inputNames).toEqual(['input_ids', 'attention_mask'])
      expect(target.outputNames).toEqual(['last_hidden_state'])
      expect(target.outputMetadata[0]).toMatchObject({
        isTensor: true,
        type: 'float32',
        shape: ['batch_size', 'sequence_length', width],
      })
    }
  })

  it('outputs the hidden state after the final layer norm (weight 1, no bias): mean 0, variance 1 per token', async () => {
    const ids = texts[0]
    const hidden = await hiddenStates(graphs.float, [ids], [ones(ids.length)])
    for (let position = 0; position < ids.length; position += 1) {
      const row = hidden.subarray(position * width, (position + 1) * width)
      const mean = row.reduce((sum, value) => sum + value, 0) / width
      const variance = row.reduce((sum, value) => sum + (value - mean) ** 2, 0) / width
      expect(Math.abs(mean)).toBeLessThan(1e-5)
      expect(Math.abs(variance - 1)).toBeLessThan(1e-3)
    }
  })

  it('is causal and depends on the context: a token sees the tokens before it, not those after', async () => {
    const base = bytes('abcdefgh')
    const laterChanged = bytes('abcdZZZZ')
    const earlierChanged = bytes('ZZZZefgh')
    const a = await hiddenStates(graphs.float, [base], [ones(8)])
    const later = await hiddenStates(graphs.float, [laterChanged], [ones(8)])
    const earlier = await hiddenStates(graphs.float, [earlierChanged], [ones(8)])
    const at = (hidden: Float32Array, position: number): Float32Array =>
      hidden.subarray(position * width, (position + 1) * width)
    for (let position = 0; position < 4; position += 1) {
      expect(largestDifference(at(a, position), at(later, position))).toBeLessThan(1e-5)
    }
    // Same token, same position, other tokens before it: the layers move its state.
    expect(largestDifference(at(a, 7), at(earlier, 7))).toBeGreaterThan(0.01)
  })

  for (const side of ['right', 'left'] as const) {
    it(`gives each row of a ${side}-padded batch, mean-pooled over its mask, its vector alone`, async () => {
      for (const [name, target] of [
        ['float32', graphs.float],
        ['int8', graphs.int8],
      ] as const) {
        const { ids, mask } = padBatch(texts, side)
        const pooled = meanPool(await hiddenStates(target, ids, mask), mask, width)
        const otherPadding = padBatch(texts, side, 65)
        const pooledOtherPadding = meanPool(
          await hiddenStates(target, otherPadding.ids, otherPadding.mask),
          otherPadding.mask,
          width
        )
        for (const [row, text] of texts.entries()) {
          const alone = await embed(target, text)
          expect(largestDifference(pooled[row], alone), `${name} row ${row}`).toBeLessThan(1e-4)
          // What the padding holds does not matter either.
          expect(largestDifference(pooledOtherPadding[row], alone)).toBeLessThan(1e-4)
        }
        // Not vacuous. Left: a mask of ones lets the real tokens attend to the padding and shifts their positions.
        // Right: the causal tokens never see the padding after them, so only the pooling's mask keeps it out.
        const allOnes = ids.map((row) => ones(row.length))
        const unmasked =
          side === 'left'
            ? meanPool(await hiddenStates(target, ids, allOnes), mask, width)
            : meanPool(await hiddenStates(target, ids, mask), allOnes, width)
        expect(largestDifference(unmasked[1], await embed(target, texts[1]))).toBeGreaterThan(0.01)
      }
    })
  }

  it('gives int8 vectors within a small cosine distance of float32, not equal to them', async () => {
    for (const text of texts) {
      const float = await embed(graphs.float, text)
      const int8 = await embed(graphs.int8, text)
      expect(1 - cosine(float, int8)).toBeLessThan(1e-3)
      expect(largestDifference(float, int8)).toBeGreaterThan(0)
    }
  })
})
