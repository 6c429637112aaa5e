import type {
  ChatChunk,
  ChatRequest,
  ChatResult,
  Dialect,
} from '../../providers/spec/chat-types.ts'
import type { EmbedRequest, EmbedResult } from '../../providers/spec/embedding-types.ts'
import type { ChunkReader } from '../../providers/spec/provider-adapter.ts'
import type { GatewayError } from '../core/errors.ts'
import type { BodySource } from './response-body.ts'

/**
 * The wire format of one client protocol, both ways: the one place a route learns it. It decodes the client's request
 * into the canonical one (for a converted target) and encodes canonical answers, streams and the stream's error event
 * back. One codec per protocol, not per error dialect: the Responses API speaks OpenAI's error shape but ends a failed
 * stream with its own `response.failed` event.
 */
export interface DialectCodec {
  /** The error shape the protocol's clients read. */
  readonly dialect: Dialect
  /**
   * The client's body as the canonical request for `model`, called only when a converted target is tried. Throws a
   * 400 `GatewayError` naming the field it cannot convert.
   */
  decodeRequest(body: Record<string, unknown>, model: string): ChatRequest
  /** Non-streaming cross-dialect answer → the dialect's JSON body. */
  encodeResult(result: ChatResult, context: ConvertedContext): unknown
  /**
   * `true` when `encodeResult` reads the answer alone (not the request, the client's body or its `echo`): the prompt
   * cache then encodes a stored answer once and sends the same body to every hit on it (`respond-from-cache.ts`),
   * ids the conversion made up included. Absent: encoded for each hit (the Responses API gives each its own id).
   */
  readonly encodesAnswerAlone?: boolean
  /** Cross-dialect stream → the dialect's SSE bytes (errors mid-stream become the dialect's error event). */
  encodeStream(
    chunks: ReadableStream<ChatChunk>,
    context: ConvertedContext
  ): ReadableStream<Uint8Array>
  /**
   * The same as `encodeStream` without Web streams: the chunks from a reader, the bytes as a body source that the
   * runtime carries to the client (`Deps.streamBody`: on Node, no Web stream at all). Where a codec has it, a converted
   * stream goes this way (`respond-chat.ts`); on Node 20 each Web stream costs about 10 µs to make and a few per chunk.
   */
  encodeStreamSource?(chunks: ChunkReader<ChatChunk>, context: ConvertedContext): BodySource
  /**
   * A canonical parameter name (Chat Completions' names, plus Anthropic's `thinking`: what adapters name in a
   * conversion refusal or in what they left out) as this protocol's clients call it. Absent: the same names.
   */
  clientParam?(param: string): string
  /** Headers a converted answer carries beside the usual ones (what the conversion left out, say). */
  convertedHeaders?(context: ConvertedContext): Record<string, string> | undefined
  /**
   * Embeddings only: the client's body as the canonical embeddings request for `model`, called only when a target
   * without an embeddings endpoint of its own is tried (`ProviderAdapter.embed`). Throws a 400 `GatewayError` naming
   * the field it cannot read.
   */
  decodeEmbedRequest?(body: Record<string, unknown>, model: string): EmbedRequest
  /** Embeddings only: canonical embeddings → the protocol's JSON body, in the format the client's body asked for. */
  encodeEmbeddings?(result: EmbedResult, body: Record<string, unknown>): string
  /** The in-band error event ending a forwarded stream that failed after its first byte. */
  encodeErrorEvent(error: GatewayError): Uint8Array
  /**
   * For a protocol whose error event depends on what came before it (the Responses API numbers its events): a
   * watcher of one forwarded stream's bytes that words the error event in sequence. Without it, `encodeErrorEvent`.
   */
  createStreamErrorEncoder?(): StreamErrorEncoder
}

/** What a converted answer is encoded with: the canonical request and the client's body. */
export type ConvertedContext = {
  request: ChatRequest
  body: Record<string, unknown>
  /** The route's keeper of a finished converted answer (the Responses API's `store`), in the protocol's shape. */
  keep?: (answer: Record<string, unknown>) => void | Promise<unknown>
  /** Fields of the client's own request that the body sent upstream no longer has, for an answer that echoes them. */
  echo?: Record<string, unknown>
}

export type StreamErrorEncoder = {
  /** Each forwarded chunk, as the client receives it. */
  write(chunk: Uint8Array): void
  encode(error: GatewayError): Uint8Array
}
