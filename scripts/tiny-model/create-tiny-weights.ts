import { drawGpt2ModelWeights } from './draw-gpt2-weights.ts'
import type { Gpt2Shape, Gpt2Weights } from './gpt2-weights.ts'
import { SeededRandom } from './seeded-random.ts'
import type { TinyVocabulary } from './tiny-vocabulary.ts'

/**
 * How the untrained weights are drawn. Random weights alone make a model whose every next token is about equally
 * likely, and whose greedy output settles into one token repeated. So the head is built as a bigram table on top of
 * random layers: the "word" tokens (lowercase letters, `,`, `.` and the merges) are put in one random cycle, and the
 * head gives each token's successor in that cycle a logit of about `successorLogit`; greedy text walks the cycle,
 * the attention and MLP layers (random, but large enough to matter) bend the walk with the context, and sampling
 * strays from it. After `.`, `<|im_end|>` is nearly as likely as the successor, so answers end there now and then.
 * Other ASCII characters and the specials lead into the cycle; every token outside it gets a negative bias, so text
 * stays in readable ASCII.
 */
const design = {
  embeddingScale: 1,
  positionScale: 0.2,
  attentionScale: 0.14,
  mlpScale: 0.08,
  successorLogit: 10,
  endAfterPeriod: 0.9,
  outsideBias: -6,
}

const wordToken = /^[a-z,.]$/

/** The weights of the shipped tiny model, the same for the same seed. */
export const createTinyWeights = (
  vocabulary: TinyVocabulary,
  shape: Gpt2Shape,
  seed: number
): Gpt2Weights => {
  const random = new SeededRandom(seed)
  const { nEmbd: width, vocabSize } = shape
  const model = drawGpt2ModelWeights(shape, random, {
    embedding: design.embeddingScale,
    position: design.positionScale,
    attention: design.attentionScale,
    mlpUp: design.mlpScale,
    mlpDown: design.mlpScale / 2,
  })
  const { wte } = model

  // Each token's embedding, standardized (mean 0, variance 1) as the final layer norm standardizes the hidden
  // state: a head column of `e / width` then scores `successorLogit` for a hidden state pointing exactly at `e`.
  const standardized = (token: number): Float64Array => {
    const row = wte.subarray(token * width, (token + 1) * width)
    const mean = row.reduce((sum, value) => sum + value, 0) / width
    const variance = row.reduce((sum, value) => sum + (value - mean) ** 2, 0) / width
    return Float64Array.from(row, (value) => (value - mean) / Math.sqrt(variance + 1e-5))
  }

  const firstMerge = 256
  const ordinary = vocabulary.tokens.length - Object.keys(vocabulary.specialIds).length
  const cycle = random.shuffle(
    vocabulary.texts
      .map((text, token) => (token >= firstMerge || wordToken.test(text) ? token : -1))
      .filter((token) => token >= 0 && token < ordinary)
  )
  const inCycle = new Set(cycle)
  const predecessors = new Map<number, number[]>(
    cycle.map((token, index) => [cycle[(index + 1) % cycle.length], [token]])
  )
  const leadsIn = [
    ...Array.from({ length: 128 }, (_, byte) => byte).filter((byte) => !inCycle.has(byte)),
    ...Object.values(vocabulary.specialIds),
  ]
  for (const token of leadsIn) predecessors.get(cycle[random.integer(cycle.length)])!.push(token)

  const head = new Float64Array(width * vocabSize)
  const addColumn = (column: number, token: number, weight: number): void => {
    const direction = standardized(token)
    for (let row = 0; row < width; row += 1) {
      head[row * vocabSize + column] += (weight * direction[row]) / width
    }
  }
  for (const [token, sources] of predecessors) {
    for (const source of sources) addColumn(token, source, design.successorLogit)
  }
  const end = vocabulary.specialIds['<|im_end|>']
  const period = vocabulary.texts.indexOf('.')
  addColumn(end, period, design.successorLogit * design.endAfterPeriod)
  const headBias = Float32Array.from({ length: vocabSize }, (_, token) =>
    inCycle.has(token) || token === end ? 0 : design.outsideBias
  )

  return {
    ...model,
    lmHead: { inputs: width, outputs: vocabSize, weight: Float32Array.from(head), bias: headBias },
  }
}
