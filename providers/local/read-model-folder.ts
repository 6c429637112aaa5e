/**
 * Checks one model folder in the Hugging Face ONNX export layout before any worker loads it, and reads what the main
 * thread needs to know of the model (its context window, its sampling defaults). A folder that is not what the layout
 * says throws an `Error` naming the folder and every problem found, so the gateway refuses to start with a message the
 * operator can act on; what only onnxruntime can tell (a truncated graph) is reported by the worker that loads it.
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

export type ModelFolderFacts = {
  /** Most tokens of prompt and answer together (`max_position_embeddings`, or GPT-2's `n_positions`). */
  contextWindow: number
  samplingDefaults: SamplingDefaults
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
  const generation = readJson('generation_config.json', false)
  const weights = onnxFileByDtype[dtype]
  if (!existsSync(join(folder, weights)))
    problems.push(`${weights} is missing (the weights of dtype ${dtype})`)

  let contextWindow: number | undefined
  if (config !== null) {
    contextWindow =
      positiveInteger(config.max_position_embeddings) ??
      positiveInteger(config.n_positions) ??
      positiveInteger(config.n_ctx)
    if (contextWindow === undefined)
      problems.push('config.json gives no context window (max_position_embeddings or n_positions)')
    const vocabSize = positiveInteger(config.vocab_size)
    if (vocabSize === undefined) problems.push('config.json gives no vocab_size')
    else if (tokenizer !== null) {
      const largest = largestTokenId(tokenizer)
      if (largest < 0) problems.push('tokenizer.json has no vocabulary')
      else if (largest >= vocabSize)
        problems.push(
          `the tokenizer does not match the model: it has token id ${largest}, the model's vocab_size is ${vocabSize}`
        )
    }
  }
  if (
    tokenizerConfig !== null &&
    tokenizerConfig.chat_template === undefined &&
    !existsSync(join(folder, 'chat_template.jinja'))
  )
    problems.push(
      'no chat template (tokenizer_config.json has no chat_template, and there is no chat_template.jinja)'
    )

  if (problems.length > 0 || contextWindow === undefined)
    throw new Error(`${folder} is not a usable model folder: ${problems.join('; ')}`)
  return {
    contextWindow,
    samplingDefaults: generation === null ? {} : readSamplingDefaults(generation),
    modifiedAt: Math.floor(statSync(join(folder, 'config.json')).mtimeMs / 1000),
  }
}
