import type {
  Gpt2ModelWeights,
  Gpt2Shape,
  LayerNormWeights,
  LinearWeights,
} from './gpt2-weights.ts'
import { SeededRandom } from './seeded-random.ts'

/**
 * How the untrained embedding model's weights are drawn. Its vectors are meant to be checkable, not meaningful: the
 * token embeddings are large and random (so two tokens point in nearly unrelated directions, their cosine about
 * 1/sqrt(width) either way), while the positions, the attention and the MLP are small random corrections (a
 * projection multiplies a unit-variance input's scale by `scale * sqrt(inputs)`: about 0.34 for the attention's
 * value and output projections each, so a layer adds a tenth or so of the embedding's size). Each token's last hidden
 * state is then mostly its own embedding, bent a little by its position and its context, and a text's mean-pooled
 * vector is mostly the mean of its tokens' embeddings: a bag of tokens. Texts that share more tokens get a higher
 * cosine similarity, texts that share none are far apart, and word order and context still move the vector a little.
 * The final layer norm has no bias, so no direction is common to every vector.
 */
const design = {
  embeddingScale: 1,
  positionScale: 0.05,
  attentionScale: 0.03,
  mlpUpScale: 0.06,
  mlpDownScale: 0.015,
}

/** The weights of the shipped embedding model, the same for the same seed. */
export const createEmbeddingWeights = (shape: Gpt2Shape, seed: number): Gpt2ModelWeights => {
  const random = new SeededRandom(seed)
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
    wte: fill(vocabSize * width, design.embeddingScale),
    wpe: fill(shape.nPositions * width, design.positionScale),
    layers: Array.from({ length: shape.nLayer }, () => ({
      ln1: layerNorm(),
      attention: linear(width, 3 * width, design.attentionScale),
      attentionProjection: linear(width, width, design.attentionScale),
      ln2: layerNorm(),
      mlpUp: linear(width, 4 * width, design.mlpUpScale),
      mlpDown: linear(4 * width, width, design.mlpDownScale),
    })),
    lnF: { weight: new Float32Array(width).fill(1), bias: new Float32Array(width) },
  }
}
