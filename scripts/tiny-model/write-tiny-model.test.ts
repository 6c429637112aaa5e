import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectSameBytesOnEveryRun, listFiles, readJson } from './model-folder-checks.ts'
import { tinyModelShape, writeTinyModel } from './write-tiny-model.ts'

const layout = [
  'config.json',
  'generation_config.json',
  'onnx/model.onnx',
  'onnx/model_quantized.onnx',
  'tokenizer.json',
  'tokenizer_config.json',
]

let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tiny-model-write-'))
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('writeTinyModel', () => {
  it('writes the same bytes on every run, in the Hugging Face ONNX layout', async () => {
    await expectSameBytesOnEveryRun(writeTinyModel, root, layout)
  })

  it('replaces a folder that was there, leaving nothing of the old one and no staging folder', async () => {
    const directory = join(root, 'replaced')
    await mkdir(join(directory, 'onnx'), { recursive: true })
    await writeFile(join(directory, 'onnx/model.onnx'), 'stale')
    await writeFile(join(directory, 'leftover.txt'), 'stale')
    await writeTinyModel(directory)
    expect(await listFiles(directory)).toEqual(layout)
    expect((await readdir(root)).filter((name) => name.includes('partial'))).toEqual([])
  })

  it('writes configs whose ids, sizes and special tokens agree with the tokenizer', async () => {
    const directory = join(root, 'first')
    const config = await readJson(join(directory, 'config.json'))
    const generation = await readJson(join(directory, 'generation_config.json'))
    const tokenizer = (await readJson(join(directory, 'tokenizer.json'))) as {
      added_tokens: { id: number; content: string; special: boolean }[]
      model: { vocab: Record<string, number>; merges: [string, string][] }
    }
    const tokenizerConfig = await readJson(join(directory, 'tokenizer_config.json'))
    const special = Object.fromEntries(
      tokenizer.added_tokens.map((token) => [token.content, token.id])
    )

    expect(config).toMatchObject({
      model_type: 'gpt2',
      vocab_size: tinyModelShape.vocabSize,
      n_positions: tinyModelShape.nPositions,
      n_embd: tinyModelShape.nEmbd,
      n_head: tinyModelShape.nHead,
      n_layer: tinyModelShape.nLayer,
      bos_token_id: special['<|endoftext|>'],
      eos_token_id: special['<|im_end|>'],
    })
    expect(generation.eos_token_id).toEqual([special['<|im_end|>'], special['<|endoftext|>']])
    const ids = [...Object.values(tokenizer.model.vocab), ...Object.values(special)].sort(
      (a, b) => a - b
    )
    expect(ids).toEqual(Array.from({ length: tinyModelShape.vocabSize }, (_, id) => id))
    expect(Object.keys(special)).toEqual(['<|endoftext|>', '<|im_start|>', '<|im_end|>'])
    for (const [left, right] of tokenizer.model.merges) {
      expect(tokenizer.model.vocab[left + right]).toBeGreaterThanOrEqual(256)
    }
    expect(tokenizerConfig).toMatchObject({
      bos_token: '<|endoftext|>',
      eos_token: '<|im_end|>',
      pad_token: '<|endoftext|>',
      model_max_length: tinyModelShape.nPositions,
    })
    expect(tokenizerConfig.chat_template).toContain('<|im_start|>')
  })
})
