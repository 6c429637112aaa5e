import type { DialectCodec } from '../dialect-codec.ts'
import { convertToOpenAIResponse } from './convert-to-openai-response.ts'
import {
  encodeOpenAIErrorEvent,
  encodeOpenAISse,
  type OpenAIErrorObject,
} from './encode-openai-sse.ts'
import { errorBody, toGatewayError } from '../../middleware/on-error.ts'
import { invalidRequest, type GatewayError } from '../../core/errors.ts'
import { convertOpenAIRequest } from './convert-openai-request.ts'
import { convertOpenAIEmbeddingsRequest } from './convert-openai-embeddings-request.ts'
import { convertToOpenAIEmbeddings } from './convert-to-openai-embeddings.ts'

/** Mid-stream errors are worded by the one error serializer, like every other error. */
const describe = (error: GatewayError): OpenAIErrorObject =>
  (errorBody(error, 'openai', '') as { error: OpenAIErrorObject }).error

/** OpenAI Chat Completions. https://platform.openai.com/docs/api-reference/chat */
export const openAICodec: DialectCodec = {
  dialect: 'openai',
  decodeRequest: convertOpenAIRequest,
  encodeResult: (result) => convertToOpenAIResponse(result),
  encodesAnswerAlone: true,
  encodeStream: (chunks, { body }) => {
    const options = body.stream_options as { include_usage?: unknown } | null | undefined
    return encodeOpenAISse(chunks, {
      includeUsage: options?.include_usage === true,
      describeError: (error) => describe(toGatewayError(error)),
    })
  },
  encodeErrorEvent: (error) => encodeOpenAIErrorEvent(describe(error)),
}

/**
 * OpenAI Embeddings: forwarded to a provider that has the endpoint, else through the canonical embeddings types to one
 * that has `embed` (the executor's routing); never through the chat types.
 */
export const openAIEmbeddingsCodec: DialectCodec = {
  ...openAICodec,
  decodeRequest: () => {
    throw invalidRequest('Embeddings cannot be served by a chat model.', 'model')
  },
  decodeEmbedRequest: convertOpenAIEmbeddingsRequest,
  encodeEmbeddings: (result, body) =>
    convertToOpenAIEmbeddings(result, body.encoding_format === 'base64' ? 'base64' : 'float'),
}
