/** The shape of a GPT-2 model: the fields of its config.json that size the graph. */
export interface Gpt2Shape {
  vocabSize: number
  nPositions: number
  nEmbd: number
  nHead: number
  nLayer: number
  layerNormEpsilon: number
}

/** A dense layer `x @ weight + bias`; `weight` is row-major [inputs, outputs], as ONNX MatMul takes it. */
export interface LinearWeights {
  inputs: number
  outputs: number
  weight: Float32Array
  bias: Float32Array
}

export interface LayerNormWeights {
  weight: Float32Array
  bias: Float32Array
}

/** One transformer block, named after GPT-2's modules. */
export interface Gpt2LayerWeights {
  ln1: LayerNormWeights
  /** Query, key and value in one [nEmbd, 3 * nEmbd] projection, in that order (GPT-2's `c_attn`). */
  attention: LinearWeights
  attentionProjection: LinearWeights
  ln2: LayerNormWeights
  mlpUp: LinearWeights
  mlpDown: LinearWeights
}

/** Every parameter of a GPT-2 model without a head (Hugging Face's `GPT2Model`): what feature extraction runs. */
export interface Gpt2ModelWeights {
  shape: Gpt2Shape
  /** Token embeddings, [vocabSize, nEmbd]. */
  wte: Float32Array
  /** Position embeddings, [nPositions, nEmbd]. */
  wpe: Float32Array
  layers: Gpt2LayerWeights[]
  lnF: LayerNormWeights
}

/** Every parameter of a GPT-2-style causal language model: the model and its head. */
export interface Gpt2Weights extends Gpt2ModelWeights {
  /** The language-model head, [nEmbd, vocabSize] with a bias (not tied to `wte`). */
  lmHead: LinearWeights
}

/** How many parameters `weights` holds, with its head if it has one. */
export const countParameters = (weights: Gpt2ModelWeights & { lmHead?: LinearWeights }): number => {
  const linear = (layer: LinearWeights): number => layer.weight.length + layer.bias.length
  const norm = (layer: LayerNormWeights): number => layer.weight.length + layer.bias.length
  return (
    weights.wte.length +
    weights.wpe.length +
    weights.layers.reduce(
      (sum, layer) =>
        sum +
        norm(layer.ln1) +
        linear(layer.attention) +
        linear(layer.attentionProjection) +
        norm(layer.ln2) +
        linear(layer.mlpUp) +
        linear(layer.mlpDown),
      0
    ) +
    norm(weights.lnF) +
    (weights.lmHead ? linear(weights.lmHead) : 0)
  )
}
