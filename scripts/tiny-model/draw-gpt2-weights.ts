import type {
  Gpt2ModelWeights,
  Gpt2Shape,
  LayerNormWeights,
  LinearWeights,
} from './gpt2-weights.ts'
import type { SeededRandom } from './seeded-random.ts'

/** The standard deviations of a model's random weight matrices: what each tiny model chooses for itself. */
export interface Gpt2WeightScales {
  /** Token embeddings. */
  embedding: number
  /** Position embeddings. */
  position: number
  /** The attention's query, key and value projection and its output projection. */
  attention: number
  mlpUp: number
  mlpDown: number
}

/**
 * The random transformer both tiny models start from: a GPT-2 model without a head, its matrices drawn from `random`
 * with `scales`, every bias with standard deviation 0.02, the layer norms' weights around 1 (0.05), and the final
 * layer norm the identity (weight 1, no bias). The draws come in a fixed order (token embeddings, position embeddings,
 * then each layer's ln1, attention, attention projection, ln2, MLP up and MLP down), which the shipped bytes depend
 * on: `random` continues from there for whatever the caller draws next.
 */
export const drawGpt2ModelWeights = (
  shape: Gpt2Shape,
  random: SeededRandom,
  scales: Gpt2WeightScales
): Gpt2ModelWeights => {
  const { nEmbd: width, vocabSize } = shape
  const fill = (length: number, scale: number, mean = 0): Float32Array =>
    Float32Array.from({ length }, () => mean + random.normal(scale))
  const linear = (inputs: number, outputs: number, scale: number): LinearWeights => ({
    inputs,
    outputs,
    weight: fill(inputs * outputs, scale),
    bias: fill(outputs, 0.02),
  })
  const layerNorm = (): LayerNormWeights => ({
    weight: fill(width, 0.05, 1),
    bias: fill(width, 0.02),
  })
  return {
    shape,
    wte: fill(vocabSize * width, scales.embedding),
    wpe: fill(shape.nPositions * width, scales.position),
    layers: Array.from({ length: shape.nLayer }, () => ({
      ln1: layerNorm(),
      attention: linear(width, 3 * width, scales.attention),
      attentionProjection: linear(width, width, scales.attention),
      ln2: layerNorm(),
      mlpUp: linear(width, 4 * width, scales.mlpUp),
      mlpDown: linear(4 * width, width, scales.mlpDown),
    })),
    lnF: { weight: new Float32Array(width).fill(1), bias: new Float32Array(width) },
  }
}
