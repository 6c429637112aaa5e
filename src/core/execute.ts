/**
 * Runs one client call against the ordered targets of its model: retry (p-retry) ▸ timeouts ▸ fallback ▸ circuit
 * breaker. Retries and fallback happen only before the first byte reaches the client: for streams, `executeChat`
 * resolves only after the first upstream chunk has arrived, so a stall before it still falls back.
 */
import type { ChatChunk, ChatRequest, ChatResult, Dialect } from '../../providers/spec/chat-types.ts'
import type { ForwardResponse, ForwardTap } from '../../providers/spec/provider-adapter.ts'
import type { Deps } from '../deps.ts'

export type ChatCall = {
  deps: Deps
  /** The dialect the client spoke. */
  dialect: Dialect
  /** `chat` = chat completions / messages; `count-tokens` = Anthropic count_tokens. */
  operation: 'chat' | 'count-tokens' | 'embeddings'
  /** The model as the client sent it. */
  model: string
  stream: boolean
  /** The client's parsed JSON body, forwarded as is on a same-dialect target (never zod's output). */
  body: Record<string, unknown>
  /** Client headers that pass by allowlist, lower-cased (`anthropic-version`, `anthropic-beta`). */
  headers: Record<string, string>
  /** Converts the body to the canonical request, only when a cross-dialect target is tried; throws a 400 GatewayError on a conversion gap. */
  toCanonical: () => ChatRequest
  /** Client disconnect. */
  signal: AbortSignal
  requestId: string
}

export type ServedBy = {
  provider: string
  model: string
  /** Upstream attempts made in total, across targets. */
  attempts: number
  /** Set when the gateway injected Anthropic's required `max_tokens` (the one default we inject). */
  defaultedMaxTokens?: number
  /** Epoch ms when the first upstream byte arrived. */
  firstByteAt: number
}

export type ChatOutcome =
  /** Same dialect: the raw upstream body (starting with the first chunk), guarded by idle and total timeouts. */
  | { kind: 'forward'; response: ForwardResponse; tap: ForwardTap | null; servedBy: ServedBy }
  | { kind: 'result'; result: ChatResult; servedBy: ServedBy }
  /** Cross dialect, streaming: canonical chunks, guarded by idle and total timeouts. */
  | { kind: 'stream'; stream: ReadableStream<ChatChunk>; servedBy: ServedBy }
  /** count_tokens answered by a local estimate (no upstream can count). */
  | { kind: 'count'; inputTokens: number; estimated: boolean; servedBy: ServedBy }

export const executeChat = async (call: ChatCall): Promise<ChatOutcome> => {
  throw new Error(`executeChat is being written (${call.requestId})`)
}
