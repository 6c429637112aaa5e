import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectSameBytesOnEveryRun, readJson } from './model-folder-checks.ts'
import { embeddingModelShape, writeEmbeddingModel } from './write-embedding-model.ts'
import { createTinyModelFiles } from './write-tiny-model.ts'

const layout = [
  'config.json',
  'onnx/model.onnx',
  'onnx/model_quantized.onnx',
  'tokenizer.json',
  'tokenizer_config.json',
]

let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'embedding-model-write-'))
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('writeEmbeddingModel', () => {
  it('writes the same bytes on every run, in the Hugging Face feature-extraction layout', async () => {
    await expectSameBytesOnEveryRun(writeEmbeddingModel, root, layout)
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
