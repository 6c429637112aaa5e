/**
 * A client call as the executor runs it, and what comes back: the types shared by the executor (`execute.ts`), one
 * attempt (`dispatch-attempt.ts`) and the routes that answer (`src/api/respond-chat.ts`).
 */
import type {
  ChatChunk,
  ChatRequest,
  ChatResult,
  Dialect,
} from '../../providers/spec/chat-types.ts'
import type { EmbedRequest, EmbedResult } from '../../providers/spec/embedding-types.ts'
import type { Operation } from '../../providers/spec/operation.ts'
import type {
  AbortHandle,
  ForwardResponse,
  ForwardTap,
  HeaderReader,
} from '../../providers/spec/provider-adapter.ts'
import type { ChunkReader } from './guard-stream.ts'
import type { Target } from './model-router.ts'
import type { Principal } from './principal.ts'

/** Where a model name led: the ordered targets to try, and the alias (config route) they came from. */
export type CallRoute = {
  /** The route (alias) name; `null` for a `provider/model` name, a discovered model or a default provider. */
  name: string | null
  /** In fallback order; never empty. */
  targets: readonly Target[]
  /**
   * The route's target for short requests (`routes[].shortRequests`), with its bounds: `preferShortTarget` puts it
   * first for a request within them. Absent on most routes.
   */
  short?: { target: Target; maxInputTokens: number; maxOutputTokens: number }
}

export type ChatCall = {
  operation: Operation
  /** The dialect the client spoke (`operationDialect[operation]`), kept beside it for the hot path. */
  dialect: Dialect
  /** The model as the client sent it. */
  model: string
  /** Resolved before the call runs (`Executor.route`): what a cache key, a limit or a log line needs to know. */
  route: CallRoute
  principal: Principal
  stream: boolean
  /** The client's parsed JSON body, forwarded as is to a target that serves the operation natively. */
  body: Record<string, unknown>
  /**
   * `body` as the client's text, when `body` is that text's parse and nothing else: a forward that changes nothing in
   * it sends these bytes instead of serializing `body` again (for a long conversation, the largest cost it would have).
   */
  bodyText?: string
  /** The client's query string, `?` included, when it sent one (`ForwardRequest.query`). */
  query?: string
  /** Client headers that pass by allowlist, lower-cased (`anthropic-version`, `anthropic-beta`). */
  headers: Record<string, string>
  /** Converts the body to the canonical request, only when a converted target is tried; throws a 400 GatewayError on a conversion gap. */
  toCanonical: () => ChatRequest
  /**
   * A canonical parameter name (what adapters name in a conversion refusal or `CallContext.omittedParams`: Chat
   * Completions' names) in the client's terms (`DialectCodec.clientParam`). Absent: the names are the client's.
   */
  clientParam?: (param: string) => string
  /**
   * An embeddings call's body as the canonical embeddings request, only when a target without an embeddings endpoint
   * of its own is tried (`ProviderAdapter.embed`); throws a 400 GatewayError for what it cannot read. Absent for the
   * other operations.
   */
  toEmbedRequest?: () => EmbedRequest
  /**
   * The complete answer is wanted when the response ends (`ResponseEnd.answer`: the prompt cache stores it): forwarded
   * bodies then also pass through the adapter's answer tap, and converted streams are assembled.
   */
  assemble: boolean
  /**
   * With `assemble`: given each canonical chunk of a streamed answer as it arrives (the prompt cache's single-flight,
   * whose followers read them). Must not throw.
   */
  onAnswerChunk?: (chunk: ChatChunk) => void
  /** Client disconnect. */
  signal: AbortHandle
  requestId: string
}

export type ServedBy = {
  provider: string
  model: string
  /** Upstream attempts made in total, across targets. */
  attempts: number
  /** Set when the gateway injected Anthropic's required `max_tokens` (the one default we inject). */
  defaultedMaxTokens?: number
  /** What a converted call left out of what the client asked, by the client's own field names. */
  omittedParams?: string[]
  /** Epoch ms when the first upstream byte arrived. */
  firstByteAt: number
}

export type ChatOutcome =
  /** Forwarded, streaming: the raw upstream body (starting with the first chunk), guarded by idle and total timeouts. */
  | {
      kind: 'forward'
      status: number
      headers: HeaderReader
      reader: ChunkReader<Uint8Array>
      /** The adapter's rewrite of the bytes into what the client asked for (`ForwardResponse.createClientRewrite`). */
      createClientRewrite?: ForwardResponse['createClientRewrite']
      /** Side parsers, each reading every chunk as the upstream sent it: usage first, then the answer when asked. */
      taps: readonly ForwardTap[]
      servedBy: ServedBy
    }
  /**
   * Forwarded, not streaming: the whole upstream body, read inside the attempt (so a body that breaks off is still
   * retried or falls back: nothing has reached the client yet).
   */
  | {
      kind: 'forward-complete'
      status: number
      headers: HeaderReader
      body: Uint8Array
      taps: readonly ForwardTap[]
      servedBy: ServedBy
    }
  /** Converted, not streaming; `upstreamHeaders`: the upstream's answer's (`CallContext.upstreamHeaders`). */
  | { kind: 'result'; result: ChatResult; servedBy: ServedBy; upstreamHeaders?: HeaderReader }
  /** Embeddings from a provider's `embed` (no endpoint to forward to): the codec encodes them. */
  | { kind: 'embeddings'; result: EmbedResult; servedBy: ServedBy }
  /** Converted, streaming: canonical chunks, guarded by idle and total timeouts. */
  | {
      kind: 'stream'
      reader: ChunkReader<ChatChunk>
      servedBy: ServedBy
      upstreamHeaders?: HeaderReader
    }
  /** count_tokens answered by a local estimate (no upstream can count). */
  | { kind: 'count'; inputTokens: number; estimated: boolean; servedBy: ServedBy }
