import type { DialectCodec } from '../dialect-codec.ts'
import { estimateTokens } from '../../core/estimate-tokens.ts'
import { errorBody } from '../../middleware/on-error.ts'
import { createParamRenamer } from '../create-param-renamer.ts'
import { convertAnthropicRequest } from './convert-anthropic-request.ts'
import { convertToAnthropicResponse } from './convert-to-anthropic-response.ts'
import { encodeAnthropicErrorEvent, encodeAnthropicSse } from './encode-anthropic-sse.ts'

/** Anthropic Messages (and count_tokens, which shares its request). https://docs.claude.com/en/api/messages */
export const anthropicCodec: DialectCodec = {
  dialect: 'anthropic',
  decodeRequest: convertAnthropicRequest,
  clientParam: createParamRenamer({
    response_format: 'output_config.format',
    max_completion_tokens: 'max_tokens',
    reasoning_effort: 'output_config.effort',
    stop: 'stop_sequences',
  }),
  encodeResult: (result) => convertToAnthropicResponse(result),
  encodesAnswerAlone: true,
  encodeStream: (chunks, { request }) =>
    encodeAnthropicSse(chunks, {
      model: request.model,
      estimatedInputTokens: estimateTokens(request),
    }),
  encodeErrorEvent: (error) => {
    const { error: shaped } = errorBody(error, 'anthropic', '') as {
      error: { type: string; message: string }
    }
    return encodeAnthropicErrorEvent(shaped)
  },
}
