/**
 * The generated embedding folder is a model Transformers.js 4.3 loads offline like any Hugging Face feature-extraction
 * export: the `feature-extraction` pipeline (float32 and `q8`) and `AutoModel`. Its mean-pooled vectors are checked
 * against a pooling of our own over onnxruntime-node's raw output, and shown not to be noise: texts that share more
 * tokens have more similar vectors.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AutoModel, AutoTokenizer, env, pipeline } from '@huggingface/transformers'
import type {
  FeatureExtractionPipeline,
  PreTrainedModel,
  PreTrainedTokenizer,
  Tensor,
} from '@huggingface/transformers'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { SeededRandom } from './seeded-random.ts'
import {
  embeddingModelName,
  embeddingModelShape,
  embeddingModelVersion,
  writeEmbeddingModel,
} from './write-embedding-model.ts'

const { nEmbd: width, nPositions } = embeddingModelShape
const modelId = `${embeddingModelName}/${embeddingModelVersion}`
const pooledAndNormalized = { pooling: 'mean', normalize: true } as const

let root: string
let folder: string
let extractor: FeatureExtractionPipeline
let quantizedExtractor: FeatureExtractionPipeline
let tokenizer: PreTrainedTokenizer
let model: PreTrainedModel
let session: ort.InferenceSession

beforeAll(async () => {
  // Any download attempt fails the suite.
  vi.stubGlobal('fetch', () => Promise.reject(new Error('no network in this test')))
  env.allowRemoteModels = false
  root = await mkdtemp(join(tmpdir(), 'embedding-model-tjs-'))
  folder = join(root, embeddingModelName, String(embeddingModelVersion))
  await writeEmbeddingModel(folder)
  env.localModelPath = root
  // By absolute path and by id under env.localModelPath: the two ways a folder is named.
  extractor = await pipeline('feature-extraction', folder, { dtype: 'fp32' })
  quantizedExtractor = await pipeline('feature-extraction', modelId, { dtype: 'q8' })
  tokenizer = await AutoTokenizer.from_pretrained(folder)
  model = await AutoModel.from_pretrained(folder, { dtype: 'fp32' })
  session = await ort.InferenceSession.create(join(folder, 'onnx/model.onnx'))
})

afterAll(async () => {
  await extractor?.dispose()
  await quantizedExtractor?.dispose()
  await model?.dispose()
  await session?.release()
  vi.unstubAllGlobals()
  await rm(root, { recursive: true, force: true })
})

const rowsOf = (tensor: Tensor): number[][] => tensor.tolist() as number[][]

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
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

const largestDifference = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Array.from(a).reduce((largest, value, index) => Math.max(largest, Math.abs(value - b[index])), 0)

/** Our own embedding of `text`: onnxruntime on the tokenizer's ids, the mean of the hidden states, unit length. */
const embedWithOnnxruntime = async (text: string): Promise<Float64Array> => {
  const ids = tokenizer.encode(text)
  const tensor = (values: number[]): ort.Tensor =>
    new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length])
  const outputs = await session.run({
    input_ids: tensor(ids),
    attention_mask: tensor(ids.map(() => 1)),
  })
  const hidden = outputs.last_hidden_state.data as Float32Array
  const pooled = new Float64Array(width)
  for (let position = 0; position < ids.length; position += 1) {
    for (let k = 0; k < width; k += 1) pooled[k] += hidden[position * width + k] / ids.length
  }
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
      const [, length] = hidden.dims
      const maskRows = rowsOf(mask).map((row) => row.map(Number))
      const pipelineVectors = rowsOf(await extractor(texts, pooledAndNormalized))
      for (const [row, maskRow] of maskRows.entries()) {
        const pooled = new Float64Array(width)
        const count = maskRow.reduce((sum, attended) => sum + attended, 0)
        maskRow.forEach((attended, position) => {
          if (!attended) return
          const offset = (row * length + position) * width
          for (let k = 0; k < width; k += 1) {
            pooled[k] += (hidden.data as Float32Array)[offset + k] / count
          }
        })
        expect(cosine(pooled, pipelineVectors[row])).toBeGreaterThan(1 - 1e-6)
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
