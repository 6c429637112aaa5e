import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { embeddingModelShape, writeEmbeddingModel } from './write-embedding-model.ts'
import { createTinyModelFiles } from './write-tiny-model.ts'

const layout = [
  'config.json',
  'onnx/model.onnx',
  'onnx/model_quantized.onnx',
  'tokenizer.json',
  'tokenizer_config.json',
]

const listFiles = async (directory: string): Promise<string[]> =>
  (await readdir(directory, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(directory, join(entry.parentPath, entry.name)))
    .sort()

const hashes = async (directory: string): Promise<Record<string, string>> =>
  Object.fromEntries(
    await Promise.all(
      (await listFiles(directory)).map(async (path) => [
        path,
        createHash('sha256')
          .update(await readFile(join(directory, path)))
          .digest('hex'),
      ])
    )
  )

const readJson = async (path: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(path, 'utf8'))

let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'embedding-model-write-'))
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('writeEmbeddingModel', () => {
  it('writes the same bytes on every run, in the Hugging Face feature-extraction layout', async () => {
    const first = await writeEmbeddingModel(join(root, 'first'))
    const second = await writeEmbeddingModel(join(root, 'second'))
    expect(await listFiles(join(root, 'first'))).toEqual(layout)
    expect(await hashes(join(root, 'second'))).toEqual(await hashes(join(root, 'first')))
    expect(second).toEqual({ ...first, directory: join(root, 'second') })
    expect(first.parameters).toBeGreaterThan(200_000)
    expect(first.parameters).toBeLessThan(1_000_000)
    const sizes = Object.fromEntries(first.files.map((file) => [file.path, file.bytes]))
    // Float32 weights, and about a quarter of that in int8.
    expect(sizes['onnx/model.onnx']).toBeGreaterThan(first.parameters * 4)
    expect(sizes['onnx/model_quantized.onnx']).toBeLessThan(sizes['onnx/model.onnx'] / 3)
    expect((await readdir(root)).filter((name) => name.includes('partial'))).toEqual([])
  })

  it("writes a GPT2Model config that agrees with the tokenizer, which is the LM's without a chat template", async () => {
    const directory = join(root, 'first')
    const config = await readJson(join(directory, 'config.json'))
    const tokenizerJson = await readFile(join(directory, 'tokenizer.json'), 'utf8')
    const tokenizer = JSON.parse(tokenizerJson) as {
      added_tokens: { id: number; content: string }[]
    }
    const tokenizerConfig = await readJson(join(directory, 'tokenizer_config.json'))
    const special = Object.fromEntries(
      tokenizer.added_tokens.map((token) => [token.content, token.id])
    )
    expect(config).toMatchObject({
      architectures: ['GPT2Model'],
      model_type: 'gpt2',
      vocab_size: embeddingModelShape.vocabSize,
      n_positions: embeddingModelShape.nPositions,
      n_embd: embeddingModelShape.nEmbd,
      n_head: embeddingModelShape.nHead,
      n_layer: embeddingModelShape.nLayer,
      bos_token_id: special['<|endoftext|>'],
      eos_token_id: special['<|im_end|>'],
      pad_token_id: special['<|endoftext|>'],
      use_cache: false,
    })
    const lm = createTinyModelFiles().files
    expect(tokenizerJson).toBe(lm.get('tokenizer.json'))
    const { chat_template: template, ...lmTokenizerConfig } = JSON.parse(
      lm.get('tokenizer_config.json') as string
    ) as Record<string, unknown>
    expect(template).toBeTypeOf('string')
    expect(tokenizerConfig).toEqual({
      ...lmTokenizerConfig,
      model_max_length: embeddingModelShape.nPositions,
    })
    expect(tokenizerConfig).not.toHaveProperty('chat_template')
  })
})
