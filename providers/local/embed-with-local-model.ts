/**
 * Embeddings on a local embedding model: the request checked against the model (its size, its vocabulary), then one
 * `embed` to the least busy worker of the pool, whose answer is checked and cut into one vector per input. Refusals are
 * 400s naming the input: a token id beyond the vocabulary, an input with no token or more than the model takes (never
 * truncated), a `dimensions` other than the model's.
 */
import type { EmbedRequest } from '../spec/embedding-types.ts'
import type { AbortHandle } from '../spec/provider-adapter.ts'
import type { LocalModel } from './find-local-models.ts'
import { localEmbeddingFailed, localInvalidRequest } from './local-errors.ts'
import type { LocalWorkerPool } from './local-worker-pool.ts'

/** How a message names input `index` of `count`. */
const inputName = (index: number, count: number): string =>
  count === 1 ? 'The input' : `input[${index}]`

/** The first token id of an input that is not one of the model's (`null`: all are). */
const foreignTokenId = (ids: readonly number[], vocabSize: number): number | null => {
  for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= vocabSize) return id
  return null
}

/** One vector per input, in input order, and the tokens embedded in all. */
export const embedWithLocalModel = async (options: {
  pool: LocalWorkerPool
  /** An embedding model. */
  model: LocalModel
  /** As clients name it (`local/<name>`), for messages. */
  modelId: string
  request: EmbedRequest
  signal: AbortHandle
}): Promise<{ embeddings: Float32Array[]; tokens: number }> => {
  const { pool, model, modelId, request } = options
  const { dimensions, maxInputTokens } = model.embedding!
  if (request.dimensions !== undefined && request.dimensions !== dimensions)
    throw localInvalidRequest(
      `\`${modelId}\` gives ${dimensions}-dimensional embeddings and cannot shorten them: leave out dimensions, or send ${dimensions}.`,
      'dimensions'
    )
  const count = request.inputs.length
  for (const [index, input] of request.inputs.entries()) {
    if (typeof input === 'string') continue
    const foreign = foreignTokenId(input, model.vocabSize)
    if (foreign !== null)
      throw localInvalidRequest(
        `${inputName(index, count)} holds token id ${foreign}, which \`${modelId}\` does not have (its ids run from 0 to ${model.vocabSize - 1}).`,
        'input'
      )
  }
  const outcome = await pool.embed(
    { model: model.name, inputs: request.inputs, maxInputTokens },
    options.signal
  )
  if (outcome.kind === 'refused') {
    const name = inputName(outcome.index, count)
    if (outcome.tokens === 0)
      throw localInvalidRequest(`${name} is empty: it has no token to embed.`, 'input')
    throw localInvalidRequest(
      `${name} has ${outcome.tokens} tokens; \`${modelId}\` takes at most ${maxInputTokens} tokens per input. Shorten it, or split it into several inputs.`,
      'input',
      'context_length_exceeded'
    )
  }
  const { vectors, tokens } = outcome
  if (vectors.length !== count * dimensions)
    throw localEmbeddingFailed(
      `${model.folder}: the graph gave ${vectors.length / count} values per input, config.json says ${dimensions}`
    )
  const embeddings = Array.from({ length: count }, (_, index) =>
    vectors.subarray(index * dimensions, (index + 1) * dimensions)
  )
  return { embeddings, tokens: tokens.reduce((sum, value) => sum + value, 0) }
}
