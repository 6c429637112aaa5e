/**
 * Checks one model folder in the Hugging Face ONNX export layout before any worker loads it, and reads what the main
 * thread needs to know of the model: what kind it is (a causal LM for chat, or a base model whose hidden states are
 * pooled into embeddings), its context window, its sampling defaults, and for an embedding model its vector size, the
 * longest input it takes and how it pools. A folder that is not what the layout says throws an `Error` naming the
 * folder and every problem found, so the gateway refuses to start with a message the operator can act on; what only
 * onnxruntime can tell (a truncated graph, a graph whose outputs are not the kind's) is reported by the worker that
 * loads it.
 * https://huggingface.co/docs/optimum/exporters/onnx/usage_guides/export_a_model
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** Which weights of a folder run: the float32 graph or the int8 one (weights quantized, activations float). */
export type LocalModelDtype = 'fp32' | 'q8'

/** The weights of each dtype, as Transformers.js names them (`dtype: 'q8'` loads `model_quantized.onnx`). */
export const onnxFileByDtype: Readonly<Record<LocalModelDtype, string>> = {
  fp32: 'onnx/model.onnx',
  q8: 'onnx/model_quantized.onnx',
}

/** The sampling settings a model's `generation_config.json` recommends; absent: it says nothing. */
export type SamplingDefaults = { temperature?: number; topP?: number; topK?: number }

/**
 * What a model is for, from the head its `config.json` names (`architectures`): a causal LM (`…ForCausalLM`,
 * `…LMHeadModel`, `…ForConditionalGeneration`) generates chat answers; a base model with no head (`GPT2Model`,
 * `BertModel`: what Optimum exports for `feature-extraction`) gives hidden states, pooled into embeddings.
 */
export type LocalModelKind = 'chat' | 'embedding'

/**
 * How an embedding model's hidden states become one vector: the mean over the input's tokens (the default, and what
 * most sentence-embedding models are trained for), its first token (`[CLS]`, BGE's), or its last (decoder-based
 * embedders'); named by a Sentence Transformers `1_Pooling/config.json` beside the export, when there is one.
 */
export type EmbeddingPooling = 'mean' | 'cls' | 'last'

export type EmbeddingFacts = {
  /** The vector size: the model's hidden size (`hidden_size`, GPT-2's `n_embd`, `d_model`). */
  dimensions: number
  /** The most tokens one input may have: the context window, or the tokenizer's `model_max_length` when smaller. */
  maxInputTokens: number
  pooling: EmbeddingPooling
}

export type ModelFolderFacts = {
  kind: LocalModelKind
  /** Most tokens of prompt and answer together (`max_position_embeddings`, or GPT-2's `n_positions`). */
  contextWindow: number
  /** Token ids run from 0 to `vocabSize - 1`. */
  vocabSize: number
  samplingDefaults: SamplingDefaults
  /** Set for embedding models only. */
  embedding: EmbeddingFacts | null
  /** When the folder was last changed (its `config.json`), Unix seconds. */
  modifiedAt: number
}

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const positiveInteger = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined

/** The largest token id a `tokenizer.json` can produce: its vocabulary (BPE, WordPiece or Unigram) and added tokens. */
const largestTokenId = (tokenizer: Json): number => {
  let largest = -1
  const vocab = isObject(tokenizer.model) ? tokenizer.model.vocab : undefined
  if (Array.isArray(vocab)) largest = vocab.length - 1
  else if (isObject(vocab))
    for (const id of Object.values(vocab))
      if (typeof id === 'number') largest = Math.max(largest, id)
  if (Array.isArray(tokenizer.added_tokens))
    for (const token of tokenizer.added_tokens)
      if (isObject(token) && typeof token.id === 'number') largest = Math.max(largest, token.id)
  return largest
}

const readSamplingDefaults = (generation: Json): SamplingDefaults => {
  const defaults: SamplingDefaults = {}
  if (typeof generation.temperature === 'number') defaults.temperature = generation.temperature
  if (typeof generation.top_p === 'number') defaults.topP = generation.top_p
  if (typeof generation.top_k === 'number') defaults.topK = generation.top_k
  return defaults
}

const chatHead = /(ForCausalLM|LMHeadModel|ForConditionalGeneration)$/
const baseModel = /Model$/

/** The kind `config.json`'s `architectures` name, or a problem to report. */
const readKind = (config: Json): LocalModelKind | string => {
  const architectures = Array.isArray(config.architectures)
    ? config.architectures.filter((name): name is string => typeof name === 'string')
    : []
  if (architectures.some((name) => chatHead.test(name))) return 'chat'
  if (architectures.some((name) => baseModel.test(name))) return 'embedding'
  return architectures.length === 0
    ? 'config.json names no architectures: a causal LM (…ForCausalLM, …LMHeadModel) serves chat, a base model (…Model) embeddings'
    : `config.json's architectures (${architectures.join(', ')}) are neither a causal LM (…ForCausalLM, …LMHeadModel) for chat nor a base model (…Model) for embeddings`
}

/** Sentence Transformers' pooling modes, by the flag its `1_Pooling/config.json` sets. */
const poolingFlags: readonly [string, EmbeddingPooling][] = [
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_lasttoken', 'last'],
]

const readPooling = (pooling: Json | null, problems: string[]): EmbeddingPooling => {
  if (pooling === null) return 'mean'
  const set = Object.entries(pooling).filter(
    ([name, value]) => name.startsWith('pooling_mode_') && value === true
  )
  const known = set.flatMap(([name]) => poolingFlags.filter(([flag]) => flag === name))
  if (set.length === 1 && known.length === 1) return known[0][1]
  problems.push(
    `1_Pooling/config.json asks for ${set.length === 0 ? 'no pooling mode' : set.map(([name]) => name).join(' and ')}: one of ${poolingFlags.map(([flag]) => flag).join(', ')} is supported`
  )
  return 'mean'
}

/** Throws an `Error` listing every problem of the folder. */
export const readModelFolder = (folder: string, dtype: LocalModelDtype): ModelFolderFacts => {
  const problems: string[] = []
  const readJson = (file: string, required: boolean): Json | null => {
    const path = join(folder, file)
    if (!existsSync(path)) {
      if (required) problems.push(`${file} is missing`)
      return null
    }
    try {
      const value: unknown = JSON.parse(readFileSync(path, 'utf8'))
      if (isObject(value)) return value
      problems.push(`${file} is not a JSON object`)
    } catch (error) {
      problems.push(`${file} is not valid JSON (${(error as Error).message})`)
    }
    return null
  }

  const config = readJson('config.json', true)
  const tokenizer = readJson('tokenizer.json', true)
  const tokenizerConfig = readJson('tokenizer_config.json', true)
  const weights = onnxFileByDtype[dtype]
  if (!existsSync(join(folder, weights)))
    problems.push(`${weights} is missing (the weights of dtype ${dtype})`)

  let kind: LocalModelKind | undefined
  let contextWindow: number | undefined
  let vocabSize: number | undefined
  let dimensions: number | undefined
  if (config !== null) {
    const read = readKind(config)
    if (read === 'chat' || read === 'embedding') kind = read
    else problems.push(read)
    contextWindow =
      positiveInteger(config.max_position_embeddings) ??
      positiveInteger(config.n_positions) ??
      positiveInteger(config.n_ctx)
    if (contextWindow === undefined)
      problems.push('config.json gives no context window (max_position_embeddings or n_positions)')
    vocabSize = positiveInteger(config.vocab_size)
    if (vocabSize === undefined) problems.push('config.json gives no vocab_size')
    else if (tokenizer !== null) {
      const largest = largestTokenId(tokenizer)
      if (largest < 0) problems.push('tokenizer.json has no vocabulary')
      else if (largest >= vocabSize)
        problems.push(
          `the tokenizer does not match the model: it has token id ${largest}, the model's vocab_size is ${vocabSize}`
        )
    }
    dimensions =
      positiveInteger(config.hidden_size) ??
      positiveInteger(config.n_embd) ??
      positiveInteger(config.d_model)
    if (kind === 'embedding' && dimensions === undefined)
      problems.push(
        'config.json gives no hidden size (hidden_size or n_embd): the size of its vectors'
      )
  }
  if (
    kind === 'chat' &&
    tokenizerConfig !== null &&
    tokenizerConfig.chat_template === undefined &&
    !existsSync(join(folder, 'chat_template.jinja'))
  )
    problems.push(
      'no chat template (tokenizer_config.json has no chat_template, and there is no chat_template.jinja)'
    )
  const generation = kind === 'chat' ? readJson('generation_config.json', false) : null
  const pooling =
    kind === 'embedding' ? readPooling(readJson('1_Pooling/config.json', false), problems) : 'mean'

  if (
    problems.length > 0 ||
    kind === undefined ||
    contextWindow === undefined ||
    vocabSize === undefined
  )
    throw new Error(`${folder} is not a usable model folder: ${problems.join('; ')}`)
  // A tokenizer that says nothing has a huge `model_max_length` (Transformers' 1e30): the window bounds it anyway.
  const tokenizerMax = positiveInteger(tokenizerConfig?.model_max_length)
  return {
    kind,
    contextWindow,
    vocabSize,
    samplingDefaults: generation === null ? {} : readSamplingDefaults(generation),
    embedding:
      kind === 'embedding'
        ? {
            dimensions: dimensions!,
            maxInputTokens: Math.min(contextWindow, tokenizerMax ?? contextWindow),
            pooling,
          }
        : null,
    modifiedAt: Math.floor(statSync(join(folder, 'config.json')).mtimeMs / 1000),
  }
}
