import type { ChatChunk, ChatRequest, ChatResult, Dialect } from '../../providers/spec/chat-types.ts'
import type { GatewayError } from '../core/errors.ts'

/** How one client dialect is encoded: the one place a route learns its wire format. */
export interface DialectCodec {
  readonly dialect: Dialect
  /** Non-streaming cross-dialect answer → the dialect's JSON body. */
  encodeResult(result: ChatResult): unknown
  /** Cross-dialect stream → the dialect's SSE bytes (errors mid-stream become the dialect's error event). */
  encodeStream(chunks: ReadableStream<ChatChunk>, context: { request: ChatRequest; body: Record<string, unknown> }): ReadableStream<Uint8Array>
  /** The in-band error event ending a forwarded stream that failed after its first byte. */
  encodeErrorEvent(error: GatewayError): Uint8Array
}
