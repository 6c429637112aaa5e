/**
 * The provider contract: adapters translate, the core decides. No retry, cache, rate limit or usage logic in here.
 * Every failure is a thrown `ProviderError`. Adapters never read the environment: the runtime builds each adapter
 * from its configured instance (`ProviderFactory` in src/core/provider-registry.ts). The contract does not assume
 * HTTP: base URL, key and transport are what the HTTP adapters' own factories take (`HttpProviderSettings`); an
 * in-process provider (the local model) takes none of them.
 */
import type { ChatChunk, ChatRequest, ChatResult, Usage } from './chat-types.ts'
import type { EmbedRequest, EmbedResult } from './embedding-types.ts'
import type { ModelVersionControl } from './model-versions.ts'
import type { Operation } from './operation.ts'

/**
 * How adapters and transports learn of an abort (first-byte timeout, deadline, client gone): the part of `AbortSignal`
 * they read, so a real signal is one. The core passes a lighter token (`src/core/abort-token.ts`); a transport whose
 * API needs a real `AbortSignal` converts it (`toAbortSignal`).
 */
export interface AbortHandle {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

export type UpstreamRequest = {
  url: string
  method: 'GET' | 'POST' | 'DELETE'
  headers: Record<string, string>
  /** Already-serialised body; the transport sets `content-length` from it. */
  body?: string | Uint8Array
  signal: AbortHandle
  /** Connect timeout for this provider (the Node transport keeps one pool per setting; fetch has none). */
  connectTimeoutMs?: number
}

/**
 * The part of `Headers` the gateway reads (a `Headers` is one): names lower-case, `get` joins repeated values with
 * ", ", iteration yields `[name, value]`. The Node transport answers with a view over undici's header object instead
 * of building a `Headers` for every response.
 */
export type HeaderReader = Pick<Headers, 'get' | 'has'> &
  Iterable<[string, string]> & {
    /** Every header, as `Headers.forEach` calls back (value first); cheaper than the iterator on the hot path. */
    forEach(callback: (value: string, name: string) => void): void
  }

/**
 * Reads a body chunk by chunk: a `ReadableStreamDefaultReader` is one. A stream's body passes through the gateway as
 * readers rather than Web streams, since each stream between the upstream socket and the client costs a few
 * microseconds per chunk.
 */
export type ChunkReader<T> = {
  read(): Promise<ReadableStreamReadResult<T>>
  /** Stops reading and releases the source (for a response body: its connection). */
  cancel(reason?: unknown): Promise<void>
  /**
   * Optional push mode, where the source can offer it (the Node transport): from now on every chunk, the end or the
   * failure goes to `sink` as it arrives, with no promise per chunk. A chunk a reader sees pass costs the gateway
   * its work on it and nothing more, as a `pipe` does. `read()` must not be called after `pipe`; `cancel` still
   * stops it (and the sink then hears nothing more).
   */
  pipe?(sink: ChunkSink<T>): PipeControl
}

/** Where a piped reader delivers. Each is called synchronously from the source; none may throw. */
export type ChunkSink<T> = {
  /** One chunk. `false` asks the source to pause until `PipeControl.resume()`; it may still send what it holds. */
  write(chunk: T): boolean
  /** The source ended: nothing more comes. */
  close(): void
  /** The source failed (a `ProviderError` for an upstream body): nothing more comes. */
  error(error: unknown): void
}

export type PipeControl = {
  /** The sink can take more again, after its `write` returned `false`. */
  resume(): void
}

export type UpstreamResponse = {
  status: number
  headers: HeaderReader
  /** Raw bytes as they arrive (never decompressed by us: requests ask for `accept-encoding: identity`). */
  body: ReadableStream<Uint8Array>
  /**
   * Optional fast path: the whole body at once, without a Web stream in between (on Node 20 building a
   * `ReadableStream` per response costs more than the proxying itself). Use it or `body`, never both; it rejects
   * like the stream would. `readResponseBytes` picks whichever the transport offers.
   */
  bytes?(): Promise<Uint8Array>
  /**
   * Optional fast path: the body chunk by chunk, without a Web stream in between. Use one of `body`, `bytes()` and
   * `reader()`, never two; its reads reject like the stream's would. `bodyReader` picks whichever the transport offers.
   */
  reader?(): ChunkReader<Uint8Array>
}

/**
 * HTTP to upstreams, injected: an undici `Pool`/`Agent` on Node, `fetch` on Workers, a fake in unit tests.
 * Rejects with `ProviderError` kind `connection` when no response arrives, kind `aborted`/`timeout` when the
 * signal fires. Resolves for every HTTP status: status handling is the adapter's job.
 * Cancelling `body` must release the connection.
 */
export interface UpstreamTransport {
  request(request: UpstreamRequest): Promise<UpstreamResponse>
  /**
   * `true` when every promise of a request, `request` itself and its response's `bytes()` and reads, settles as soon
   * as the request's signal aborts (rejecting): its adapter can then promise the same (`ProviderAdapter.settlesOnAbort`).
   */
  readonly settlesOnAbort?: boolean
}

/** What an HTTP adapter is built with, from its configured provider instance. */
export type HttpProviderSettings = {
  /** Provider instance id from config (`openai`, `groq`...). */
  id: string
  apiKey?: string
  /** The configured base URL, no trailing slash; absent = the provider's public API. */
  baseUrl?: string
  /** Extra headers from config (OpenRouter's `HTTP-Referer`, Azure's `api-version`...). */
  headers?: Record<string, string>
  /** This instance's HTTP client: its own bounded pool on Node, `fetch` on Workers, a fake in tests. */
  transport: UpstreamTransport
}

export interface CallContext {
  /** Fires on client disconnect, on a timeout, or at the request's deadline. */
  signal: AbortHandle
  requestId: string
  /** The target's connect timeout (route settings override the provider's); transports without one ignore it. */
  connectTimeoutMs?: number
  /**
   * Set by an HTTP adapter to the headers of the upstream's answer to a converted call (`chat`, `streamChat`), from
   * which the client gets the upstream's request id, retry hints and (master key) rate limits, as a forwarded call's
   * client does from `ForwardResponse.headers`. Left unset by adapters that have none.
   */
  upstreamHeaders?: HeaderReader
  /**
   * Set by an adapter on a converted call when it left out of the upstream request something the client asked (a
   * reasoning setting its model does not take), by canonical parameter name (Chat Completions' names, and Anthropic's
   * `thinking`); the client's route names them in its own terms in `x-gatehouse-omitted-params`.
   */
  omittedParams?: string[]
}

/** A natively forwarded operation: the client's parsed JSON body, sent with only the model (and gateway-owned fields) changed. */
export type ForwardRequest = {
  /** One of the adapter's `forwards`. */
  operation: Operation
  /** The client's JSON body (not zod's output: unknown fields survive). The adapter must not mutate it. */
  body: Record<string, unknown>
  /** Upstream model name to put in `body.model`. */
  model: string
  /** Client headers that pass by allowlist (`anthropic-version`, `anthropic-beta`), lower-cased. */
  headers: Record<string, string>
  /**
   * `body` as the client's JSON text, when known: an adapter that would send `body` unchanged (its `model` already
   * `model`) sends this instead of serializing `body` again.
   */
  text?: string
  /**
   * The client's query string, `?` included, when it sent one (the Anthropic SDK's beta client calls
   * `/v1/messages?beta=true`, as Claude Code does): an adapter whose API takes the same query passes it on.
   */
  query?: string
}

/**
 * A request about an object the upstream keeps for the gateway's credential (a response the Responses API stored):
 * retrieve it, delete it, list its input items (`GET` of `input_items`), or cancel it (`POST` to `cancel`, no body).
 */
export type StoredObjectRequest = {
  /** The operation that made it: `responses`. */
  operation: Operation
  method: 'GET' | 'DELETE' | 'POST'
  /** The object's id, as the upstream gave it (the adapter encodes it into the path). */
  id: string
  /** A collection (`input_items`) or an action (`cancel`) below the object; absent: the object itself. */
  part?: 'input_items' | 'cancel'
  /** Query parameters to pass on, in order, names and values unencoded (the caller chose which). */
  query: readonly (readonly [string, string])[]
}

export type ModelInfo = {
  id: string
  /** Unix seconds, when the provider says. */
  created?: number
  ownedBy?: string
  displayName?: string
}

/**
 * What the core gets back from `forward`: status and headers already checked (a non-2xx was thrown as
 * `ProviderError`), and the raw upstream body to stream to the client unchanged.
 */
export type ForwardResponse = UpstreamResponse & {
  /**
   * Set when the adapter asked the upstream for more than the client did (streamed usage, for accounting): turns the
   * forwarded bytes back into what the client would have received. Applied after the side taps have read each chunk,
   * so it may reuse the chunk's bytes for what it returns (the chunk is not read again).
   */
  createClientRewrite?: () => { push(chunk: Uint8Array): Uint8Array; end(): Uint8Array }
}

/** What a side parser learned from a forwarded body: the bytes themselves pass through untouched. */
export type ForwardSummary = {
  usage: Usage | null
  /**
   * The complete answer (text, tool calls, reasoning, finish reason, usage), from an answer tap
   * (`createAnswerTap`) only: assembling it parses every event, which the usage tap avoids. `null` when the body did
   * not hold a complete answer (cut short, an error, not a generative operation).
   */
  answer?: ChatResult | null
  /** Model name the upstream reported. */
  model?: string
  /** The upstream sent an in-band error (SSE `error` event / `{"error":...}` chunk). */
  error?: { message: string; type?: string }
  /**
   * A stored answer's id and the ids of its output items, as the upstream keeps them (the Responses API's `resp_…`,
   * `msg_…`): what later calls may name, so the gateway records whose they are.
   */
  stored?: { id: string; itemIds: string[] }
  /**
   * A response the upstream goes on running after this body ended: the Responses API's `background: true`, still
   * `queued` or `in_progress` when the body ended (its create answers at once; a background stream may end before its
   * terminal event). Its usage is not in this body: the gateway learns it later, by this id.
   */
  running?: { id: string }
  /**
   * An estimate of the output tokens the body carried, counted by the tap as the stream passed (text, reasoning and
   * tool-call argument deltas), for when its usage did not arrive (a stream cut short or a server that reports none).
   * Absent for taps that do not count (JSON bodies, non-generative operations).
   */
  outputTokensSeen?: number
}

/**
 * How a forwarded stream's body ended, as its format says (`ForwardTap.end`): `complete` (OpenAI's `[DONE]` or a
 * finish reason, Anthropic's `message_stop`, a Responses terminal event, or a background response still running);
 * `cut` (the body stopped before any of those: the gateway tells the client and counts the failure); `error` (the
 * body said itself that it failed, in-band: the client has that event as it came, the failure is counted).
 */
export type ForwardEnd =
  | { kind: 'complete' }
  | { kind: 'cut' }
  /** `status`: what the dialect says of the error's type (Anthropic's documented statuses); absent, a 502. */
  | { kind: 'error'; error: { message: string; type?: string; status?: number } }

/** Reads a forwarded body on the side (SSE or JSON) without altering or delaying it. Every parse is guarded. */
export interface ForwardTap {
  write(chunk: Uint8Array): void
  /** Called once the body has ended (or failed); returns what was read. */
  finish(): ForwardSummary
  /**
   * `ForwardSummary.stored` as soon as the body has said it all (a Responses stream's terminal event), before the body
   * ends: the gateway records it before the chunk that told it reaches the client. `null` until then; absent on taps
   * that learn no such thing.
   */
  stored?(): ForwardSummary['stored'] | null
  /**
   * `true` from the chunk in which the tap has read an in-band error, or the start of one still incomplete (an
   * `event: error` line, an `"error"` member): the gateway masks its credentials in what it forwards from there on,
   * since an upstream's error may repeat the key it was sent. Absent on taps of bodies that carry no such event.
   */
  inError?(): boolean
  /**
   * How the stream's body ended, asked once it has (before `finish`, which it leaves as it is). Absent on taps of
   * whole bodies, which the transport reads to their length.
   */
  end?(): ForwardEnd
}

export interface ProviderAdapter {
  /** Provider instance id from config: `openai`, `anthropic`, `groq`, `local`... */
  readonly id: string
  /**
   * The client operations this provider serves natively, byte for byte (`forward`). Any other generative operation
   * reaches it converted, through `chat`/`streamChat`, and embeddings through `embed`. An OpenAI-compatible server
   * forwards chat completions and embeddings but has no Responses API; the local model forwards nothing.
   */
  readonly forwards: readonly Operation[]
  /**
   * `true` when every promise a call returns (`forward`, `chat`, `streamChat`, `embed`, and the reads of what they
   * answer) settles as soon as the call's signal aborts, rejecting: the executor then waits on them as they are,
   * instead of racing each against the attempt's abort (`AttemptScope.race`, a promise and a few closures per wait, on
   * every request). An adapter whose work does not stop on its signal (one that runs in the process) leaves it unset.
   */
  readonly settlesOnAbort?: boolean
  /**
   * Whether an operation in `forwards` is forwarded for this upstream model too (absent: always). `false` sends the
   * call through `chat`/`streamChat` instead: a Chat Completions request for a model OpenAI serves only through its
   * Responses API is converted to a Responses request, never forwarded to `/chat/completions`, which would 404.
   */
  forwardsModel?(operation: Operation, model: string): boolean
  /** The upstream rejects a chat without a maximum output (Anthropic): the core then sets the model's maximum. */
  readonly requiresMaxTokens?: boolean
  /**
   * Why this provider cannot serve `operation` with `model` at all, or `null` when it may: the local model refuses
   * chat on an embedding model and embeddings on a chat model. Asked when a route is resolved (`execute.ts`): such a
   * target is left out, so a fallback list never ends a request with a refusal the failed target did not earn, and a
   * route left with no target is a 400 with this message. A model the provider does not know is not refused here:
   * the call itself answers 404. Absent: every model may serve every operation the adapter has a path for.
   */
  cannotServe?(operation: Operation, model: string): string | null

  /**
   * Sends `request.body` with `model` replaced, for an operation in `forwards`; returns the raw response.
   * Throws `ProviderError` on a non-2xx status (after reading the error body, which it consumes).
   */
  forward?(request: ForwardRequest, call: CallContext): Promise<ForwardResponse>
  /**
   * Sends a request about an object the upstream stored (`GET`/`DELETE /responses/{id}`, its `input_items`, `POST` to
   * its `cancel`) with the provider's credential; absent where the provider keeps nothing. Throws `ProviderError` on a
   * non-2xx status (its body read and released), as `forward` does; otherwise returns the raw response, whose body the
   * caller consumes.
   */
  requestStored?(request: StoredObjectRequest, call: CallContext): Promise<UpstreamResponse>
  chat(request: ChatRequest, call: CallContext): Promise<ChatResult>
  /**
   * Rejects before the first chunk on HTTP errors. A failure after that errors the stream with a `ProviderError`
   * (the reader's `read()` rejects). Cancelling the stream aborts the upstream body.
   */
  streamChat(request: ChatRequest, call: CallContext): Promise<ReadableStream<ChatChunk>>
  /**
   * Embeddings from a provider with no OpenAI-shaped embeddings endpoint to forward to (the local model), through the
   * canonical types; the client's codec encodes the result (floats or base64). Throws `ProviderError` like `chat`: a
   * 400 naming the field for an input the model cannot take (empty, too long, a token id beyond its vocabulary, a
   * `dimensions` it cannot give). Absent where the provider has no embeddings, or forwards them.
   */
  embed?(request: EmbedRequest, call: CallContext): Promise<EmbedResult>
  /** A side parser for the body `forward` returned (usage, model, in-band errors). Cheap: it runs on every forward. */
  createForwardTap?(options: { operation: Operation; stream: boolean }): ForwardTap
  /**
   * A side parser that assembles the complete answer from the body `forward` returned (`ForwardSummary.answer`), so
   * that a streamed answer can serve a later non-streamed request and the other way round (the prompt cache). Asked
   * for only when a call wants the answer (`ChatCall.assemble`); it composes with the forward tap, both reading the
   * same bytes. `onChunk`, when given, receives each canonical chunk of a streamed body as the tap reads it (identical
   * requests follow the answer while it arrives); it must not throw.
   */
  createAnswerTap?(options: {
    operation: Operation
    stream: boolean
    onChunk?: (chunk: ChatChunk) => void
  }): ForwardTap
  /**
   * The models the provider advertises (its models endpoint). A provider with `modelVersions` lists its models from
   * memory, and is asked each time rather than cached: the display name shows the version serving now.
   */
  listModels?(call: CallContext): Promise<ModelInfo[]>
  /**
   * Where the provider runs its models itself from version folders (the local model): which version serves, and the
   * switch to another while it serves (`model-versions.ts`). Absent for HTTP providers.
   */
  readonly modelVersions?: ModelVersionControl
  /**
   * Gets ready to serve (the local model: checks its model folders and loads them in its worker threads), before the
   * gateway listens; awaited by the Node runtime (the Workers one builds only HTTP adapters, which have none). A
   * rejection stops the start: its message, naming what to fix, is shown to the operator, one problem per line.
   * Absent where there is nothing to prepare.
   */
  start?(): Promise<void>
  /** Releases what the adapter holds (pools, worker threads); awaited at shutdown, after the drain. */
  close?(): Promise<void>
}
