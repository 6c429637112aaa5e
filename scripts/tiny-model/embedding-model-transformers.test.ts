/**
 * The generated embedding folder is a model Transformers.js 4.3 loads offline like any Hugging Face feature-extraction
 * export: the `feature-extraction` pipeline (float32 and `q8`) and `AutoModel`. Its mean-pooled vectors are checked
 * against a pooling of our own over onnxruntime-node's raw output, and shown not to be noise: texts that share more
 * tokens have more similar vectors.
 */
import { join } from 'node:path'
import { AutoModel, AutoTokenizer, pipeline } from '@huggingface/transformers'
import type {
  FeatureExtractionPipeline,
  PreTrainedModel,
  PreTrainedTokenizer,
  Tensor,
} from '@huggingface/transformers'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { int64, ones } from './onnx-test-runs.ts'
import { openOfflineModel } from './open-offline-model.ts'
import type { OfflineModel } from './open-offline-model.ts'
import { SeededRandom } from './seeded-random.ts'
import { cosine, largestDifference, meanPool } from './vector-math.ts'
import {
  embeddingModelName,
  embeddingModelShape,
  embeddingModelVersion,
  writeEmbeddingModel,
} from './write-embedding-model.ts'

const { nEmbd: width, nPositions } = embeddingModelShape
const pooledAndNormalized = { pooling: 'mean', normalize: true } as const

let offline: OfflineModel
let extractor: FeatureExtractionPipeline
let quantizedExtractor: FeatureExtractionPipeline
let tokenizer: PreTrainedTokenizer
let model: PreTrainedModel
let session: ort.InferenceSession

beforeAll(async () => {
  // Any download attempt fails the suite.
  offline = await openOfflineModel(
    'embedding-model-tjs-',
    embeddingModelName,
    embeddingModelVersion,
    writeEmbeddingModel
  )
  const { folder } = offline
  // By absolute path and by id under env.localModelPath: the two ways a folder is named.
  extractor = await pipeline('feature-extraction', folder, { dtype: 'fp32' })
  quantizedExtractor = await pipeline('feature-extraction', offline.id, { dtype: 'q8' })
  tokenizer = await AutoTokenizer.from_pretrained(folder)
  model = await AutoModel.from_pretrained(folder, { dtype: 'fp32' })
  session = await ort.InferenceSession.create(join(folder, 'onnx/model.onnx'))
})

afterAll(async () => {
  await extractor?.dispose()
  await quantizedExtractor?.dispose()
  await model?.dispose()
  await session?.release()
  await offline?.close()
})

const rowsOf = (tensor: Tensor): number[][] => tensor.tolist() as number[][]

/** Our own embedding of `text`: onnxruntime on the tokenizer's ids, the mean of the hidden states, unit length. */
const embedWithOnnxruntime = async (text: string): Promise<Float64Array> => {
  const ids = tokenizer.encode(text)
  const mask = [ones(ids.length)]
  const outputs = await session.run({ input_ids: int64([ids]), attention_mask: int64(mask) })
  const [pooled] = meanPool(outputs.last_hidden_state.data as Float32Array, mask, width)
  const norm = Math.hypot(...pooled)
  return pooled.map((value) => value / norm)
}

const texts = [
  'The cat sat on the mat.',
  'hi',
  'Gatehouse answers from a local model when every provider is out of reach.',
  'Emoji 👋🏽 and 中文 encode byte by byte.',
]

describe('the embedding model in Transformers.js, offline', () => {
  it('gives unit vectors of the hidden size, equal to a mean pooling of onnxruntime output', async () => {
    // One batch: the pipeline pads the shorter texts (on the right), and pools over the mask.
    const batch = rowsOf(await extractor(texts, pooledAndNormalized))
    expect(batch).toHaveLength(texts.length)
    for (const [index, text] of texts.entries()) {
      expect(batch[index]).toHaveLength(width)
      expect(Math.hypot(...batch[index])).toBeCloseTo(1, 5)
      const ours = await embedWithOnnxruntime(text)
      expect(largestDifference(batch[index], ours), text).toBeLessThan(1e-5)
      const [alone] = rowsOf(await extractor(text, pooledAndNormalized))
      expect(largestDifference(batch[index], alone)).toBeLessThan(1e-5)
    }
    // The raw output, unpooled: one vector per token.
    const raw = await extractor('hi there')
    expect(raw.dims).toEqual([1, tokenizer.encode('hi there').length, width])
  })

  it('runs as AutoModel with a left-padding tokenizer, giving the same vectors after pooling', async () => {
    tokenizer.padding_side = 'left'
    try {
      const inputs = tokenizer(texts, { padding: true })
      const mask = inputs.attention_mask as Tensor
      expect(Number((mask.data as BigInt64Array)[0])).toBe(0)
      const { last_hidden_state: hidden } = (await model(inputs)) as { last_hidden_state: Tensor }
      const maskRows = rowsOf(mask).map((row) => row.map(Number))
      const pipelineVectors = rowsOf(await extractor(texts, pooledAndNormalized))
      const pooled = meanPool(hidden.data as Float32Array, maskRows, width)
      for (const [row, vector] of pooled.entries()) {
        expect(cosine(vector, pipelineVectors[row])).toBeGreaterThan(1 - 1e-6)
      }
    } finally {
      tokenizer.padding_side = 'right'
    }
  })

  it('loads the int8 model with dtype q8, whose vectors are within a small cosine distance of float32', async () => {
    const float = rowsOf(await extractor(texts, pooledAndNormalized))
    const int8 = rowsOf(await quantizedExtractor(texts, pooledAndNormalized))
    for (const [index, vector] of int8.entries()) {
      expect(vector).toHaveLength(width)
      expect(1 - cosine(vector, float[index])).toBeLessThan(1e-3)
      expect(largestDifference(vector, float[index])).toBeGreaterThan(0)
    }
  })

  it('gives texts that share more tokens more similar vectors', async () => {
    const similarity = async (a: string, b: string): Promise<number> => {
      const [x, y] = rowsOf(await extractor([a, b], pooledAndNormalized))
      return cosine(x, y)
    }
    const anchor = 'The cat sat on the mat.'
    const near = await similarity(anchor, 'The cat sat on a mat.')
    const reordered = await similarity(anchor, 'the mat sat on the cat.')
    const unrelated = await similarity(anchor, 'Stock markets fell sharply today')
    const disjoint = await similarity(anchor, 'zzzz 123')
    expect(near).toBeGreaterThan(0.9)
    expect(reordered).toBeGreaterThan(0.85)
    // Word order moves the vector a little: it is not only a bag of tokens.
    expect(reordered).toBeLessThan(1 - 1e-4)
    expect(unrelated).toBeLessThan(near - 0.3)
    expect(Math.abs(disjoint)).toBeLessThan(0.3)

    // Over many random texts, the vectors' similarity follows the overlap of the texts' tokens (the cosine of their
    // token counts): vectors of noise would not correlate at all.
    const words = (
      'the of and to in is you that it he was for on are as with his they at be this have from or one had by ' +
      'word but not what all were we when your can said there use an each which she do how their if will up'
    ).split(' ')
    const random = new SeededRandom(5)
    const sample = Array.from({ length: 40 }, () =>
      Array.from(
        { length: 3 + random.integer(10) },
        () => words[random.integer(words.length)]
      ).join(' ')
    )
    const vectors = rowsOf(await extractor(sample, pooledAndNormalized))
    const counts = sample.map((text) => {
      const count = new Float64Array(embeddingModelShape.vocabSize)
      for (const id of tokenizer.encode(text)) count[id] += 1
      return count
    })
    const overlap: number[] = []
    const similar: number[] = []
    for (let i = 0; i < sample.length; i += 1) {
      for (let j = i + 1; j < sample.length; j += 1) {
        overlap.push(cosine(counts[i], counts[j]))
        similar.push(cosine(vectors[i], vectors[j]))
      }
    }
    expect(pearson(overlap, similar)).toBeGreaterThan(0.8)
  })

  it('truncates in the pipeline at the model length, 512 tokens: a provider must count and refuse first', async () => {
    const long = 'x '.repeat(600)
    expect(tokenizer.encode(long).length).toBeGreaterThan(nPositions)
    expect(tokenizer.model_max_length).toBe(nPositions)
    const truncated = rowsOf(await extractor(long, pooledAndNormalized))[0]
    const prefix = tokenizer.decode(tokenizer.encode(long).slice(0, nPositions))
    const [ofPrefix] = rowsOf(await extractor(prefix, pooledAndNormalized))
    expect(largestDifference(truncated, ofPrefix)).toBeLessThan(1e-5)
  })
})

const pearson = (xs: number[], ys: number[]): number => {
  const mean = (values: number[]): number =>
    values.reduce((sum, value) => sum + value, 0) / values.length
  const mx = mean(xs)
  const my = mean(ys)
  let sxy = 0
  let sxx = 0
  let syy = 0
  xs.forEach((x, index) => {
    sxy += (x - mx) * (ys[index] - my)
    sxx += (x - mx) ** 2
    syy += (ys[index] - my) ** 2
  })
  return sxy / Math.sqrt(sxx * syy)
}
