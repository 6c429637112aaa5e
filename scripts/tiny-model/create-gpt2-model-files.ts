import { createTokenizerConfig, createTokenizerJson } from './create-tokenizer-files.ts'
import { encodeOnnxFile } from './encode-onnx-file.ts'
import type { GraphProto } from './encode-onnx-model.ts'
import { countParameters } from './gpt2-weights.ts'
import type { Gpt2ModelWeights, Gpt2Shape, LinearWeights } from './gpt2-weights.ts'
import { createTinyVocabulary } from './tiny-vocabulary.ts'
import type { TinyVocabulary } from './tiny-vocabulary.ts'

/** A model folder's files by their path in it, and the model's parameter count. */
export interface ModelFiles {
  files: Map<string, string | Uint8Array>
  parameters: number
}

/** What a model brings to `createGpt2ModelFiles`: the rest of its folder is the same for every tiny model. */
export interface Gpt2ModelFolder<Weights extends Gpt2ModelWeights & { lmHead?: LinearWeights }> {
  /** The model's name and version: the ONNX files' producer version is `<name>/<version>`. */
  name: string
  version: number
  /** The vocabulary of `tinyVocabularyFor`. */
  vocabulary: TinyVocabulary
  weights: Weights
  /** The model's ONNX graph of `weights`, float32 or with int8 weights. */
  buildGraph: (weights: Weights, options: { quantize: boolean }) => GraphProto
  /** The Hugging Face class in config.json's `architectures`. */
  architecture: 'GPT2LMHeadModel' | 'GPT2Model'
  /** config.json's fields after those every GPT-2 folder has (the shape and the special token ids). */
  config: Record<string, unknown>
  /** generation_config.json, for a model that generates. */
  generationConfig?: Record<string, unknown>
  /** tokenizer_config.json's chat template; `null`: none. */
  chatTemplate: string | null
  /** The ONNX files' doc string (the int8 one says so after it). */
  doc: string
}

/** The tiny vocabulary, which every tiny model tokenizes with; throws if `shape` gives it another size. */
export const tinyVocabularyFor = (shape: Gpt2Shape): TinyVocabulary => {
  const vocabulary = createTinyVocabulary()
  if (vocabulary.tokens.length !== shape.vocabSize) {
    throw new Error(
      `the vocabulary has ${vocabulary.tokens.length} tokens, the shape says ${shape.vocabSize}`
    )
  }
  return vocabulary
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

/**
 * Every file of a tiny GPT-2 model's folder, in the standard Hugging Face ONNX layout, in this order: config.json
 * (the architecture, GPT-2's fields from the weights' shape, the special ids, then the model's own fields),
 * generation_config.json if the model has one, tokenizer.json and tokenizer_config.json of the tiny vocabulary, and
 * the graph twice, `onnx/model.onnx` in float32 and `onnx/model_quantized.onnx` with int8 weights.
 */
export const createGpt2ModelFiles = <Weights extends Gpt2ModelWeights & { lmHead?: LinearWeights }>(
  model: Gpt2ModelFolder<Weights>
): ModelFiles => {
  const { vocabulary, weights, doc } = model
  const { shape } = weights
  const ids = vocabulary.specialIds
  const onnxFile = (quantize: boolean, docString: string): Uint8Array =>
    encodeOnnxFile(model.buildGraph(weights, { quantize }), {
      producerVersion: `${model.name}/${model.version}`,
      docString,
    })
  const config = {
    architectures: [model.architecture],
    model_type: 'gpt2',
    activation_function: 'gelu',
    vocab_size: shape.vocabSize,
    n_positions: shape.nPositions,
    n_ctx: shape.nPositions,
    n_embd: shape.nEmbd,
    n_head: shape.nHead,
    n_layer: shape.nLayer,
    n_inner: 4 * shape.nEmbd,
    layer_norm_epsilon: shape.layerNormEpsilon,
    bos_token_id: ids['<|endoftext|>'],
    eos_token_id: ids['<|im_end|>'],
    pad_token_id: ids['<|endoftext|>'],
    ...model.config,
  }
  const files = new Map<string, string | Uint8Array>([
    ['config.json', json(config)],
    ...(model.generationConfig
      ? [['generation_config.json', json(model.generationConfig)] as const]
      : []),
    ['tokenizer.json', json(createTokenizerJson(vocabulary))],
    [
      'tokenizer_config.json',
      json(
        createTokenizerConfig(vocabulary, shape.nPositions, { chatTemplate: model.chatTemplate })
      ),
    ],
    ['onnx/model.onnx', onnxFile(false, doc)],
    ['onnx/model_quantized.onnx', onnxFile(true, `${doc} Weights quantized to int8.`)],
  ])
  return { files, parameters: countParameters(weights) }
}
