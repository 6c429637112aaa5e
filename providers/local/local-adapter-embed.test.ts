/**
 * Embeddings from the local adapter with the real tiny embedding model in a real worker thread (onnxruntime-node
 * through Transformers.js, no mock of either), beside the tiny chat model: its vectors are what Transformers.js's own
 * `feature-extraction` pipeline gives each input alone (mean pooling, unit length), however the inputs are batched;
 * token ids embed like the text they encode; usage counts the tokens; what the model cannot take is a 400 naming the
 * input, never a truncated or NaN vector; each kind of model refuses the other kind's operation.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AutoModel, AutoTokenizer, env, pipeline, Tensor } from '@huggingface/transformers'
import type {
  FeatureExtractionPipeline,
  PreTrainedModel,
  PreTrainedTokenizer,
} from '@huggingface/transformers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  embeddingModelName,
  writeEmbeddingModel,
} from '../../scripts/tiny-model/write-embedding-model.ts'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import type { EmbedRequest } from '../spec/embedding-types.ts'
import type { CallContext, ProviderAdapter } from '../spec/provider-adapter.ts'
import { ProviderError } from '../spec/provider-error.ts'
import { createLocalAdapter } from './local-adapter.ts'
import { maxBatchTokens } from './run-embeddings.ts'

const width = 128

let root: string
let embedFolder: string
let adapter: ProviderAdapter
let extractor: FeatureExtractionPipeline
let tokenizer: PreTrainedTokenizer
let baseModel: PreTrainedModel

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'local-adapter-embed-'))
  embedFolder = join(root, 'models', embeddingModelName, '1')
  await writeEmbeddingModel(embedFolder)
  await writeTinyModel(join(root, 'models', tinyModelName, '1'))
  // The same weights, pooled by their first and by their last token (a Sentence Transformers pooling config).
  for (const [name, flag] of [
    ['embed-cls', 'pooling_mode_cls_token'],
    ['embed-last', 'pooling_mode_lasttoken'],
  ]) {
    const folder = join(root, 'models', name)
    cpSync(embedFolder, folder, { recursive: true })
    mkdirSync(join(folder, '1_Pooling'))
    writeFileSync(
      join(folder, '1_Pooling', 'config.json'),
      JSON.stringify({ word_embedding_dimension: width, [flag]: true })
    )
  }
  adapter = createLocalAdapter({
    id: 'local',
    directory: join(root, 'models'),
    models: null,
    workers: 1,
    intraOpNumThreads: 1,
    maxBatch: 8,
    dtype: 'fp32',
  })
  env.allowRemoteModels = false
  ;[, extractor, tokenizer, baseModel] = await Promise.all([
    adapter.start!(),
    pipeline('feature-extraction', embedFolder, { dtype: 'fp32' }),
    AutoTokenizer.from_pretrained(embedFolder),
    AutoModel.from_pretrained(embedFolder, { dtype: 'fp32' }),
  ])
}, 60_000)

afterAll(async () => {
  await adapter?.close?.()
  await extractor?.dispose()
  await baseModel?.dispose()
  rmSync(root, { recursive: true, force: true })
})

const call = (signal: AbortSignal = new AbortController().signal): CallContext => ({
  signal,
  requestId: 'test',
})

const embed = (inputs: EmbedRequest['inputs'], settings: Partial<EmbedRequest> = {}) =>
  adapter.embed!({ model: embeddingModelName, inputs, ...settings }, call())

const failureOf = async (promise: Promise<unknown>): Promise<ProviderError> => {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught
  )
  expect(error).toBeInstanceOf(ProviderError)
  return error as ProviderError
}

/** What Transformers.js's pipeline gives one text alone: mean pooling over its tokens, unit length. */
const pipelineVector = async (text: string): Promise<number[]> =>
  ((await extractor(text, { pooling: 'mean', normalize: true })).tolist() as number[][])[0]

const largestDifference = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Array.from(a).reduce((largest, value, index) => Math.max(largest, Math.abs(value - b[index])), 0)

const texts = [
  'The cat sat on the mat.',
  'hi',
  'Gatehouse answers from a local model when every provider is out of reach, or when that is faster.',
  'Emoji 👋🏽 and 中文 encode byte by byte.',
]

describe('embeddings from the local adapter, on the tiny embedding model in a worker thread', () => {
  it("gives each input, batched, the unit vector Transformers.js's pipeline gives it alone, with its tokens counted", async () => {
    const result = await embed(texts)
    expect(result.model).toBe(embeddingModelName)
    expect(result.embeddings).toHaveLength(texts.length)
    for (const [index, text] of texts.entries()) {
      const vector = result.embeddings[index]
      expect(vector).toBeInstanceOf(Float32Array)
      expect(vector).toHaveLength(width)
      expect(Math.hypot(...vector)).toBeCloseTo(1, 5)
      expect(largestDifference(vector, await pipelineVector(text)), text).toBeLessThan(1e-5)
    }
    const tokens = texts.reduce((sum, text) => sum + tokenizer.encode(text).length, 0)
    expect(result.usage).toEqual({
      inputTokens: tokens,
      outputTokens: 0,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 0,
      reasoningTokens: 0,
    })
  })

  it('embeds token ids as the text they encode, alone or as several inputs', async () => {
    const ids = texts.map((text) => tokenizer.encode(text))
    const [fromText, fromIds] = await Promise.all([embed(texts), embed(ids)])
    for (const [index, vector] of fromIds.embeddings.entries())
      expect(largestDifference(vector, fromText.embeddings[index])).toBeLessThan(1e-6)
    expect(fromIds.usage.inputTokens).toBe(fromText.usage.inputTokens)
    const one = await embed([ids[0]])
    expect(largestDifference(one.embeddings[0], fromText.embeddings[0])).toBeLessThan(1e-6)
    expect(one.usage.inputTokens).toBe(ids[0].length)
  })

  it('splits inputs that exceed one forward pass into several, and every vector is still its own', async () => {
    // 40 inputs of 300 tokens: 12,000 padded tokens, more than one pass takes.
    const long = Array.from({ length: 40 }, (_, index) => `${index} ${'ab '.repeat(200)}`.trim())
    const lengths = long.map((text) => tokenizer.encode(text).length)
    expect(lengths.reduce((sum, length) => sum + length, 0)).toBeGreaterThan(maxBatchTokens)
    const result = await embed(long)
    for (const index of [0, 13, 39])
      expect(
        largestDifference(result.embeddings[index], await pipelineVector(long[index]))
      ).toBeLessThan(1e-5)
    expect(result.usage.inputTokens).toBe(lengths.reduce((sum, length) => sum + length, 0))
  })

  it('takes an input of exactly the model length, and refuses one token more, naming the input and the limit', async () => {
    const ids = (count: number): number[] =>
      Array.from({ length: count }, (_, index) => index % 256)
    expect((await embed([ids(512)])).usage.inputTokens).toBe(512)
    const tooLong = await failureOf(embed(['hi', ids(513)]))
    expect(tooLong).toMatchObject({
      status: 400,
      kind: 'unsupported',
      param: 'input',
      code: 'context_length_exceeded',
    })
    expect(tooLong.message).toBe(
      'input[1] has 513 tokens; `local/gatehouse-tiny-embed` takes at most 512 tokens per input. Shorten it, or split it into several inputs.'
    )
    const longText = await failureOf(embed(['x '.repeat(600)]))
    expect(longText.message).toMatch(/^The input has \d+ tokens; .* at most 512 tokens per input/)
  })

  it('refuses an empty input, a token id beyond the vocabulary, and dimensions it cannot give', async () => {
    const empty = await failureOf(embed(['hi', '']))
    expect(empty).toMatchObject({ status: 400, param: 'input' })
    expect(empty.message).toBe('input[1] is empty: it has no token to embed.')
    for (const id of [320, -1]) {
      const foreign = await failureOf(embed([[1, 2, id]]))
      expect(foreign).toMatchObject({ status: 400, param: 'input' })
      expect(foreign.message).toBe(
        `The input holds token id ${id}, which \`local/gatehouse-tiny-embed\` does not have (its ids run from 0 to 319).`
      )
    }
    const shorter = await failureOf(embed(['hi'], { dimensions: 64 }))
    expect(shorter).toMatchObject({ status: 400, param: 'dimensions' })
    expect(shorter.message).toBe(
      '`local/gatehouse-tiny-embed` gives 128-dimensional embeddings and cannot shorten them: leave out dimensions, or send 128.'
    )
    expect((await embed(['hi'], { dimensions: 128 })).embeddings[0]).toHaveLength(width)
  })

  it('pools by the first or the last token when a Sentence Transformers pooling config says so', async () => {
    const text = 'The cat sat on the mat.'
    const ids = tokenizer.encode(text)
    const { last_hidden_state: hidden } = (await baseModel({
      input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
      attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
    })) as { last_hidden_state: Tensor }
    const rows = (hidden.tolist() as number[][][])[0]
    const unit = (row: number[]): number[] => row.map((value) => value / Math.hypot(...row))
    for (const [model, row] of [
      ['embed-cls', rows[0]],
      ['embed-last', rows.at(-1)!],
    ] as const) {
      // Batched beside shorter and longer inputs: padding must not move the last token.
      const result = await adapter.embed!(
        { model, inputs: ['hi', text, `${text} ${text}`] },
        call()
      )
      expect(largestDifference(result.embeddings[1], unit(row)), model).toBeLessThan(1e-5)
    }
  })

  it('refuses embeddings from a chat model and chat from an embedding model, and says so before any call', async () => {
    const fromChat = await failureOf(
      adapter.embed!({ model: tinyModelName, inputs: ['hi'] }, call())
    )
    expect(fromChat).toMatchObject({ status: 400, param: 'model', kind: 'unsupported' })
    expect(fromChat.message).toBe(
      "`local/gatehouse-tiny` is a chat model: it cannot create embeddings. This provider's embedding models: local/embed-cls, local/embed-last, local/gatehouse-tiny-embed."
    )
    const chat = await failureOf(
      adapter.chat(
        {
          model: embeddingModelName,
          messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
          stream: false,
        },
        call()
      )
    )
    expect(chat).toMatchObject({ status: 400, param: 'model' })
    expect(chat.message).toBe(
      "`local/gatehouse-tiny-embed` is an embedding model: it serves /v1/embeddings, not chat. This provider's chat models: local/gatehouse-tiny."
    )
    expect(adapter.cannotServe!('embeddings', tinyModelName)).toBe(fromChat.message)
    expect(adapter.cannotServe!('messages', embeddingModelName)).toBe(chat.message)
    expect(adapter.cannotServe!('embeddings', embeddingModelName)).toBeNull()
    expect(adapter.cannotServe!('chat-completions', tinyModelName)).toBeNull()
    // A model it does not know is the call's 404, not a refusal.
    expect(adapter.cannotServe!('embeddings', 'nope')).toBeNull()
    expect(
      await failureOf(adapter.embed!({ model: 'nope', inputs: ['hi'] }, call()))
    ).toMatchObject({ status: 404, code: 'model_not_found' })
  })

  it('fails at once with a 499 for a client already gone, and lists its embedding models', async () => {
    const controller = new AbortController()
    controller.abort()
    expect(
      await failureOf(
        adapter.embed!({ model: embeddingModelName, inputs: ['hi'] }, call(controller.signal))
      )
    ).toMatchObject({ status: 499, kind: 'aborted' })
    expect((await adapter.listModels!(call())).map((model) => model.id)).toEqual([
      'embed-cls',
      'embed-last',
      tinyModelName,
      embeddingModelName,
    ])
  })
})
