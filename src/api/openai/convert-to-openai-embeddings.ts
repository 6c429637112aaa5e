/**
 * Canonical embeddings → OpenAI's `CreateEmbeddingResponse`, as the client asked for them: float arrays, or each vector
 * as base64 of its little-endian float32 bytes (`encoding_format: "base64"`, what the official SDKs ask for by
 * default). Usage is OpenAI's for embeddings: `prompt_tokens` and `total_tokens`, the same number.
 * https://platform.openai.com/docs/api-reference/embeddings/object
 */
import type { EmbedResult } from '../../../providers/spec/embedding-types.ts'
import { encodeFloat32Base64 } from './encode-embeddings-base64.ts'

export type EmbeddingsEncoding = 'float' | 'base64'

/**
 * The response body as JSON text. Floats are written as the float64 numbers that hold each float32 value exactly
 * (`0.10000000149011612` for 0.1f): the client reads back the very vector the model gave, and writing them so is about
 * twice as fast as rounding each to the fewest digits that identify it.
 */
export const convertToOpenAIEmbeddings = (
  result: EmbedResult,
  encoding: EmbeddingsEncoding
): string => {
  const data = result.embeddings.map((vector, index) => ({
    object: 'embedding',
    index,
    embedding: encoding === 'base64' ? encodeFloat32Base64(vector) : Array.from(vector),
  }))
  const tokens = result.usage.inputTokens ?? 0
  return JSON.stringify({
    object: 'list',
    data,
    model: result.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  })
}
