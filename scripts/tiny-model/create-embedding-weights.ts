import { drawGpt2ModelWeights } from './draw-gpt2-weights.ts'
import type { Gpt2WeightScales } from './draw-gpt2-weights.ts'
import type { Gpt2ModelWeights, Gpt2Shape } from './gpt2-weights.ts'
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
const design: Gpt2WeightScales = {
  embedding: 1,
  position: 0.05,
  attention: 0.03,
  mlpUp: 0.06,
  mlpDown: 0.015,
}

/** The weights of the shipped embedding model, the same for the same seed. */
export const createEmbeddingWeights = (shape: Gpt2Shape, seed: number): Gpt2ModelWeights =>
  drawGpt2ModelWeights(shape, new SeededRandom(seed), design)
