/**
 * An OpenAI embeddings request → the canonical embeddings request, for a provider that has no embeddings endpoint to
 * forward it to (the local model). https://platform.openai.com/docs/api-reference/embeddings/create
 *
 * `input` is a string, an array of strings, an array of token ids, or an array of such arrays (the route's schema
 * checked the shape); each becomes one input. `dimensions` is carried for the provider to honour or refuse;
 * `encoding_format` is how the answer travels back (the codec's, not the provider's), and `user` changes nothing.
 */
import type { EmbedInput, EmbedRequest } from '../../../providers/spec/embedding-types.ts'
import { invalidRequest } from '../../core/errors.ts'

/** OpenAI's own bound on the inputs of one request (`CreateEmbeddingRequest.input`, `maxItems`). */
export const maxEmbeddingInputs = 2048

const isTokenIds = (value: unknown): value is number[] =>
  Array.isArray(value) && value.every((item) => Number.isInteger(item))

const inputsOf = (input: unknown): EmbedInput[] => {
  if (typeof input === 'string') return [input]
  if (isTokenIds(input) && input.length > 0) return [input]
  if (Array.isArray(input) && input.length > 0) {
    if (input.every((item) => typeof item === 'string')) return input as string[]
    if (input.every((item) => isTokenIds(item) && item.length > 0)) return input as number[][]
  }
  throw invalidRequest(
    '`input` must be a string, an array of strings, an array of token ids, or an array of arrays of token ids, none empty.',
    'input'
  )
}

export const convertOpenAIEmbeddingsRequest = (
  body: Record<string, unknown>,
  model: string
): EmbedRequest => {
  const inputs = inputsOf(body.input)
  if (inputs.length > maxEmbeddingInputs)
    throw invalidRequest(
      `\`input\` holds ${inputs.length} inputs; at most ${maxEmbeddingInputs} are allowed in one request.`,
      'input'
    )
  const request: EmbedRequest = { model, inputs }
  if (body.dimensions !== undefined && body.dimensions !== null) {
    if (!Number.isInteger(body.dimensions) || (body.dimensions as number) < 1)
      throw invalidRequest('`dimensions` must be a positive integer.', 'dimensions')
    request.dimensions = body.dimensions as number
  }
  return request
}
