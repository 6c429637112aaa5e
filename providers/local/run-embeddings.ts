/**
 * One embeddings request in a model worker: the model's tokenizer and a forward pass of the base model, pooled and
 * normalised here rather than by Transformers.js's `feature-extraction` pipeline, which truncates a long input
 * silently, answers NaN for an input with no token, and does not say how many tokens it read.
 *
 * Every input is tokenized first (texts with the tokenizer's special tokens, as the model was trained; token ids as
 * given), and an input with no token or more than the model takes is refused before any pass runs. The inputs then
 * go through as few forward passes as the batch bound allows: sorted by length so that a batch pads little, padded on
 * the right with an attention mask of 0 over the padding, each row pooled over its own tokens only (mean, first or
 * last token, `read-model-folder.ts`) and scaled to unit length, as OpenAI's vectors are. A cancel is read between
 * two passes.
 */
import { Tensor } from '@huggingface/transformers'
import type { PreTrainedModel, PreTrainedTokenizer } from '@huggingface/transformers'
import type { EmbedJob, FromWorker } from './local-worker-messages.ts'
import type { EmbeddingPooling } from './read-model-folder.ts'

export type LoadedEmbeddingModel = {
  tokenizer: PreTrainedTokenizer
  model: PreTrainedModel
  pooling: EmbeddingPooling
  /** What padding positions hold (masked out, so any id of the vocabulary would do). */
  padTokenId: number
}

/**
 * Padded tokens per forward pass, at most (one input longer than that goes alone): bounds the hidden states a pass
 * holds, rows × length × width floats (4 MB at width 128, 32 MB at width 1024).
 */
export const maxBatchTokens = 8192

/** The rows of one forward pass, by input index, longest first. */
export const planBatches = (lengths: readonly number[], budget = maxBatchTokens): number[][] => {
  const order = lengths.map((_, index) => index).sort((a, b) => lengths[b] - lengths[a])
  const batches: number[][] = []
  let current: number[] = []
  for (const index of order) {
    // Sorted longest first, the batch's first row sets its padded length.
    const width = current.length === 0 ? lengths[index] : lengths[current[0]]
    if (current.length > 0 && (current.length + 1) * width > budget) {
      batches.push(current)
      current = []
    }
    current.push(index)
  }
  if (current.length > 0) batches.push(current)
  return batches
}

/** Pools row `row` of `hidden` [rows, length, width] over its first `count` positions into `out`, at unit length. */
export const poolRow = (options: {
  hidden: Float32Array
  row: number
  length: number
  width: number
  count: number
  pooling: EmbeddingPooling
  out: Float32Array
}): void => {
  const { hidden, row, length, width, count, pooling, out } = options
  const base = row * length * width
  const sum = new Float64Array(width)
  if (pooling === 'mean') {
    for (let position = 0; position < count; position += 1) {
      const offset = base + position * width
      for (let k = 0; k < width; k += 1) sum[k] += hidden[offset + k]
    }
  } else {
    const offset = base + (pooling === 'cls' ? 0 : count - 1) * width
    for (let k = 0; k < width; k += 1) sum[k] = hidden[offset + k]
  }
  // The mean's division cancels out in the normalisation: only the direction is kept.
  let norm = 0
  for (let k = 0; k < width; k += 1) norm += sum[k] * sum[k]
  norm = Math.sqrt(norm)
  for (let k = 0; k < width; k += 1) out[k] = norm === 0 ? 0 : sum[k] / norm
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Runs one request and posts its answer: `embedded`, `embed-refused` or `embed-failed`. */
export const runEmbeddings = async (options: {
  id: number
  loaded: LoadedEmbeddingModel
  job: EmbedJob
  send: (message: FromWorker, transfer?: ArrayBuffer[]) => void
  /** True once the caller cancelled. */
  cancelled: () => boolean
}): Promise<void> => {
  const { id, loaded, job, send, cancelled } = options
  try {
    const ids: (readonly number[])[] = []
    for (const [index, input] of job.inputs.entries()) {
      const tokens = typeof input === 'string' ? loaded.tokenizer.encode(input) : input
      if (tokens.length === 0 || tokens.length > job.maxInputTokens) {
        send({ type: 'embed-refused', id, index, tokens: tokens.length })
        return
      }
      ids.push(tokens)
    }
    const lengths = ids.map((tokens) => tokens.length)
    let vectors: Float32Array | null = null
    let width = 0
    for (const batch of planBatches(lengths)) {
      if (cancelled()) {
        send({ type: 'embed-failed', id, message: null })
        return
      }
      const length = lengths[batch[0]]
      const inputIds = new BigInt64Array(batch.length * length).fill(BigInt(loaded.padTokenId))
      const mask = new BigInt64Array(batch.length * length)
      batch.forEach((index, row) => {
        const tokens = ids[index]
        for (let position = 0; position < tokens.length; position += 1) {
          inputIds[row * length + position] = BigInt(tokens[position])
          mask[row * length + position] = 1n
        }
      })
      const output = (await loaded.model({
        input_ids: new Tensor('int64', inputIds, [batch.length, length]),
        attention_mask: new Tensor('int64', mask, [batch.length, length]),
      })) as { last_hidden_state: Tensor }
      const hidden = output.last_hidden_state
      width = hidden.dims[2]
      vectors ??= new Float32Array(job.inputs.length * width)
      batch.forEach((index, row) =>
        poolRow({
          hidden: hidden.data as Float32Array,
          row,
          length,
          width,
          count: lengths[index],
          pooling: loaded.pooling,
          out: vectors!.subarray(index * width, (index + 1) * width),
        })
      )
      hidden.dispose()
      await nextTurn()
    }
    const result = vectors ?? new Float32Array(0)
    send({ type: 'embedded', id, vectors: result, tokens: lengths }, [result.buffer as ArrayBuffer])
  } catch (error) {
    send({ type: 'embed-failed', id, message: (error as Error).message })
  }
}
