/**
 * Finding and checking model folders before any worker loads them: versions, named and discovered models, and a clear
 * message naming the folder for each way a folder can be broken.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { writeEmbeddingModel } from '../../scripts/tiny-model/write-embedding-model.ts'
import { writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import {
  findLocalModels,
  findLocalModelVersion,
  holdsLocalModels,
  listLocalModelVersions,
} from './find-local-models.ts'

let template: string
let embeddingTemplate: string
let directory: string

beforeAll(async () => {
  template = mkdtempSync(join(tmpdir(), 'local-models-template-'))
  await writeTinyModel(template)
  embeddingTemplate = mkdtempSync(join(tmpdir(), 'local-models-embedding-'))
  await writeEmbeddingModel(embeddingTemplate)
})

afterAll(() => {
  rmSync(template, { recursive: true, force: true })
  rmSync(embeddingTemplate, { recursive: true, force: true })
})

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'local-models-'))
  return () => rmSync(directory, { recursive: true, force: true })
})

const copyModel = (path: string, from = template): string => {
  const target = join(directory, path)
  cpSync(from, target, { recursive: true })
  return target
}

const editJson = (file: string, edit: (json: Record<string, unknown>) => void): void => {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  edit(json)
  writeFileSync(file, JSON.stringify(json))
}

const problemsOf = (
  options: {
    names?: string[] | null
    dtype?: 'fp32' | 'q8'
    dtypes?: Record<string, 'fp32' | 'q8'>
    versions?: Record<string, string>
  } = {}
): string => {
  try {
    findLocalModels({
      directory,
      names: options.names ?? null,
      dtype: options.dtype ?? 'fp32',
      dtypes: options.dtypes,
      versions: options.versions,
    })
  } catch (error) {
    return (error as Error).message
  }
  throw new Error('expected findLocalModels to throw')
}

describe('findLocalModels', () => {
  it('serves the highest version of each model, numbers compared as numbers, and unversioned folders', () => {
    for (const version of ['1', '2', '10', '9']) copyModel(`tiny/${version}`)
    copyModel('flat')
    mkdirSync(join(directory, 'notes'))
    mkdirSync(join(directory, '.cache', '1'), { recursive: true })
    const models = findLocalModels({ directory, names: null, dtype: 'q8' })
    expect(models.map(({ name, version, folder }) => ({ name, version, folder }))).toEqual([
      { name: 'flat', version: null, folder: join(directory, 'flat') },
      { name: 'tiny', version: '10', folder: join(directory, 'tiny', '10') },
    ])
    expect(models[1]).toMatchObject({ contextWindow: 512, samplingDefaults: {} })
  })

  it('reads the context window and sampling defaults a model states', () => {
    const folder = copyModel('llama-like/1')
    editJson(join(folder, 'config.json'), (config) => {
      delete config.n_positions
      delete config.n_ctx
      config.max_position_embeddings = 8192
    })
    editJson(join(folder, 'generation_config.json'), (generation) => {
      Object.assign(generation, { temperature: 0.7, top_p: 0.8, top_k: 20 })
    })
    const [model] = findLocalModels({ directory, names: ['llama-like'], dtype: 'fp32' })
    expect(model).toMatchObject({
      contextWindow: 8192,
      samplingDefaults: { temperature: 0.7, topP: 0.8, topK: 20 },
    })
  })

  it('serves a pinned version instead of the highest, and refuses a pin it cannot serve, naming the folder', () => {
    for (const version of ['1', '2', '10']) copyModel(`tiny/${version}`)
    copyModel('flat')
    expect(listLocalModelVersions(directory, 'tiny')).toEqual(['1', '2', '10'])
    expect(listLocalModelVersions(directory, 'flat')).toEqual([])
    const pinned = findLocalModels({
      directory,
      names: null,
      dtype: 'fp32',
      versions: { tiny: '2' },
    })
    expect(pinned.map(({ name, version }) => ({ name, version }))).toEqual([
      { name: 'flat', version: null },
      { name: 'tiny', version: '2' },
    ])
    expect(
      findLocalModelVersion({ directory, name: 'tiny', version: '1', dtype: 'fp32' })
    ).toMatchObject({ name: 'tiny', version: '1', folder: join(directory, 'tiny', '1') })

    expect(problemsOf({ versions: { tiny: '3', flat: '1', gone: '1' } }).split('\n')).toEqual([
      `model flat: version 1 asked for, but ${join(directory, 'flat')} is an unversioned model folder (its config.json is at its top): move it into ${join(directory, 'flat', '1')} to give it versions`,
      `model tiny: no version 3 at ${join(directory, 'tiny', '3')} (versions there: 1, 2, 10)`,
      `model gone: a version is pinned, but there is no model folder at ${join(directory, 'gone')}`,
    ])
    expect(problemsOf({ names: ['tiny'], versions: { flat: '1' } })).toBe(
      "model flat: a version is pinned, but the provider's models do not include it (tiny)"
    )
  })

  it('refuses a missing directory, a named model that is not there, and a directory with no model', () => {
    rmSync(directory, { recursive: true })
    expect(problemsOf()).toBe(
      `the model directory ${directory} does not exist (or is not a directory)`
    )
    mkdirSync(join(directory, 'empty'), { recursive: true })
    expect(problemsOf()).toMatch(/^no model under /)
    expect(problemsOf({ names: ['gone'] })).toBe(
      `model gone: no model folder at ${join(directory, 'gone')} (a config.json there, or in a version folder below it)`
    )
  })

  it('names the folder and every problem of a broken model, discovered or named', () => {
    const folder = copyModel('broken/3')
    writeFileSync(join(folder, 'config.json'), '{"vocab_size": 320,')
    rmSync(join(folder, 'tokenizer.json'))
    const problems = problemsOf()
    expect(problemsOf({ names: ['broken'] })).toBe(problems)
    expect(problems).toMatch(
      new RegExp(
        `^model broken: ${folder} is not a usable model folder: config.json is not valid JSON \\(.+\\); tokenizer.json is missing$`
      )
    )
  })

  it('runs the weights set per model, the provider dtype for the others, and checks those weights are there', () => {
    copyModel('tiny/1')
    const flat = copyModel('flat')
    const found = findLocalModels({ directory, names: null, dtype: 'fp32', dtypes: { tiny: 'q8' } })
    expect(found.map(({ name, dtype }) => ({ name, dtype }))).toEqual([
      { name: 'flat', dtype: 'fp32' },
      { name: 'tiny', dtype: 'q8' },
    ])
    rmSync(join(flat, 'onnx', 'model_quantized.onnx'))
    expect(problemsOf({ dtypes: { flat: 'q8', gone: 'q8' } }).split('\n')).toEqual([
      `model flat: ${flat} is not a usable model folder: onnx/model_quantized.onnx is missing (the weights of dtype q8)`,
      `model gone: a dtype is set, but there is no model folder at ${join(directory, 'gone')}`,
    ])
    expect(problemsOf({ names: ['tiny'], dtypes: { flat: 'q8' } })).toBe(
      "model flat: a dtype is set, but the provider's models do not include it (tiny)"
    )
  })

  it('finds weights missing for the dtype, a tokenizer that does not match, no chat template, no window', () => {
    const folder = copyModel('tiny/1')
    rmSync(join(folder, 'onnx', 'model_quantized.onnx'))
    expect(problemsOf({ dtype: 'q8' })).toContain(
      'onnx/model_quantized.onnx is missing (the weights of dtype q8)'
    )
    editJson(join(folder, 'config.json'), (config) => {
      config.vocab_size = 100
      delete config.n_positions
      delete config.n_ctx
    })
    editJson(join(folder, 'tokenizer_config.json'), (config) => {
      delete config.chat_template
    })
    const problems = problemsOf()
    expect(problems).toContain(
      "the tokenizer does not match the model: it has token id 319, the model's vocab_size is 100"
    )
    expect(problems).toContain('no chat template')
    expect(problems).toContain('config.json gives no context window')
    // A chat template in its own file (newer exports) is one.
    writeFileSync(join(folder, 'chat_template.jinja'), '{{ messages[0].content }}')
    expect(problemsOf()).not.toContain('no chat template')
  })

  it('tells chat models from embedding models by the head config.json names, and reads what embeddings need', () => {
    copyModel('chat/1')
    const embedding = copyModel('embed/1', embeddingTemplate)
    const models = findLocalModels({ directory, names: null, dtype: 'fp32' })
    expect(models.map(({ name, kind, embedding }) => ({ name, kind, embedding }))).toEqual([
      { name: 'chat', kind: 'chat', embedding: null },
      {
        name: 'embed',
        kind: 'embedding',
        embedding: { dimensions: 128, maxInputTokens: 512, pooling: 'mean' },
      },
    ])
    // A BERT-style export: hidden_size, max_position_embeddings, a shorter tokenizer limit, CLS pooling.
    editJson(join(embedding, 'config.json'), (config) => {
      config.architectures = ['BertModel']
      config.hidden_size = config.n_embd
      config.max_position_embeddings = 514
      for (const name of ['n_embd', 'n_positions', 'n_ctx']) delete config[name]
    })
    editJson(join(embedding, 'tokenizer_config.json'), (config) => {
      config.model_max_length = 256
    })
    mkdirSync(join(embedding, '1_Pooling'))
    writeFileSync(
      join(embedding, '1_Pooling', 'config.json'),
      JSON.stringify({ pooling_mode_cls_token: true, pooling_mode_mean_tokens: false })
    )
    const [model] = findLocalModels({ directory, names: ['embed'], dtype: 'fp32' })
    expect(model).toMatchObject({
      kind: 'embedding',
      contextWindow: 514,
      vocabSize: 320,
      embedding: { dimensions: 128, maxInputTokens: 256, pooling: 'cls' },
    })
  })

  it('refuses a folder whose kind it cannot tell, or whose pooling it does not do, naming the problem', () => {
    const chat = copyModel('chat/1')
    const embedding = copyModel('embed/1', embeddingTemplate)
    editJson(join(chat, 'config.json'), (config) => {
      delete config.architectures
    })
    editJson(join(embedding, 'config.json'), (config) => {
      config.architectures = ['BertForMaskedLM']
      delete config.n_embd
    })
    const problems = problemsOf()
    expect(problems).toContain(
      'model chat: ' +
        `${chat} is not a usable model folder: config.json names no architectures: a causal LM (…ForCausalLM, …LMHeadModel) serves chat, a base model (…Model) embeddings`
    )
    expect(problems).toContain(
      "config.json's architectures (BertForMaskedLM) are neither a causal LM (…ForCausalLM, …LMHeadModel) for chat nor a base model (…Model) for embeddings"
    )
    editJson(join(embedding, 'config.json'), (config) => {
      config.architectures = ['GPT2Model']
    })
    mkdirSync(join(embedding, '1_Pooling'))
    writeFileSync(
      join(embedding, '1_Pooling', 'config.json'),
      JSON.stringify({ pooling_mode_max_tokens: true })
    )
    const embeddingProblems = problemsOf({ names: ['embed'] })
    expect(embeddingProblems).toContain(
      'config.json gives no hidden size (hidden_size or n_embd): the size of its vectors'
    )
    expect(embeddingProblems).toContain(
      '1_Pooling/config.json asks for pooling_mode_max_tokens: one of pooling_mode_mean_tokens, pooling_mode_cls_token, pooling_mode_lasttoken is supported'
    )
    // An embedding model needs no chat template.
    expect(embeddingProblems).not.toContain('chat template')
  })

  it('tells whether a directory holds a model folder at all, without checking it (the offline default)', () => {
    expect(holdsLocalModels(join(directory, 'absent'))).toBe(false)
    expect(holdsLocalModels(directory)).toBe(false)
    mkdirSync(join(directory, 'notes', '1'), { recursive: true })
    expect(holdsLocalModels(directory)).toBe(false)
    const folder = copyModel('broken/1')
    rmSync(join(folder, 'tokenizer.json'))
    expect(holdsLocalModels(directory)).toBe(true)
  })
})
