/**
 * The Responses API as a client protocol (`POST /v1/responses`): OpenAI's error shape for refusals, its own event
 * sequence for streams, and `response.failed`-style error events numbered in sequence. A converted answer gets a
 * `resp_…` id and the request's settings echoed, as the API does; the functions of a `namespace` tool, flattened for
 * the upstream, are named back as the client declared them; built-in tools left out are named in
 * `x-gatehouse-omitted-tools`.
 * https://platform.openai.com/docs/api-reference/responses
 */
import { errorBody, toGatewayError } from '../../middleware/on-error.ts'
import type { GatewayError } from '../../core/errors.ts'
import type { ConvertedContext, DialectCodec } from '../dialect-codec.ts'
import { headerSafe } from '../header-safe.ts'
import { createParamRenamer } from '../create-param-renamer.ts'
import { convertResponsesRequest } from './convert-responses-request.ts'
import {
  convertToResponsesResponse,
  createResponsesItemId,
} from './convert-to-responses-response.ts'
import {
  createResponsesSseSource,
  encodeResponsesErrorEvent,
  encodeResponsesSse,
} from './encode-responses-sse.ts'
import type { ResponsesContext } from './responses-context.ts'
import { convertResponsesTools } from './responses-tools.ts'
import { createSequenceWatcher } from './watch-sequence-numbers.ts'

/** The error as OpenAI's error object words it (one serializer for every error). */
const describe = (error: unknown): { code: string | null; message: string } => {
  const { error: shaped } = errorBody(toGatewayError(error), 'openai', '') as {
    error: { message: string; type: string; code: string | null }
  }
  return { code: shaped.code ?? shaped.type, message: shaped.message }
}

const contextOf = ({ body: sent, keep, echo }: ConvertedContext): ResponsesContext => {
  // The answer echoes the client's request: what the gateway took out of the body (an expanded chain) included.
  const body = echo === undefined ? sent : { ...sent, ...echo }
  const { namespaced } = convertResponsesTools(body.tools)
  const context: ResponsesContext = {
    responseId: createResponsesItemId('resp'),
    createdAt: Math.floor(Date.now() / 1000),
    body,
  }
  if (keep !== undefined) context.onFinished = keep
  if (namespaced.size > 0)
    context.toolName = (flattened) => namespaced.get(flattened) ?? { name: flattened }
  return context
}

export const responsesCodec: DialectCodec = {
  dialect: 'openai',
  decodeRequest: convertResponsesRequest,
  clientParam: createParamRenamer({
    response_format: 'text.format',
    max_tokens: 'max_output_tokens',
    max_completion_tokens: 'max_output_tokens',
    reasoning_effort: 'reasoning.effort',
    verbosity: 'text.verbosity',
    messages: 'input',
  }),
  encodeResult: (result, context) => convertToResponsesResponse(result, contextOf(context)),
  encodeStream: (chunks, context) =>
    encodeResponsesSse(chunks, { context: contextOf(context), describeError: describe }),
  encodeStreamSource: (chunks, context) =>
    createResponsesSseSource(chunks, { context: contextOf(context), describeError: describe }),
  convertedHeaders: ({ body }) => {
    const { omitted } = convertResponsesTools(body.tools)
    return omitted.length > 0
      ? { 'x-gatehouse-omitted-tools': headerSafe(omitted.join(', ')) }
      : undefined
  },
  encodeErrorEvent: (error: GatewayError) => encodeResponsesErrorEvent(describe(error), 0),
  createStreamErrorEncoder: () => {
    const watcher = createSequenceWatcher()
    return {
      write: watcher.write,
      encode: (error) => {
        const event = encodeResponsesErrorEvent(describe(error), watcher.next())
        if (watcher.atEventBoundary()) return event
        // The upstream broke inside an event: end it, so the error event is read as one of its own.
        const ended = new Uint8Array(event.length + 2)
        ended.set([0x0a, 0x0a])
        ended.set(event, 2)
        return ended
      },
    }
  },
}
