/**
 * Turns an executor outcome into the client's response: forwarded bytes stream through untouched while a side tap
 * reads usage; cross-dialect answers are encoded by the client's codec. Usage is recorded once the body has ended.
 */
import type { ChatChunk, ChatRequest, ChatResult, Usage } from '../../providers/spec/chat-types.ts'
import type {
  ChunkSink,
  ForwardResponse,
  ForwardSummary,
  ForwardTap,
  PipeControl,
} from '../../providers/spec/provider-adapter.ts'
import { createChatResultAssembler } from '../../providers/shared/assemble-chat-result.ts'
import {
  createSecretMasker,
  redactSecrets,
  type SecretMasker,
} from '../../providers/shared/redact-secrets.ts'
import type { ChatOutcome, ServedBy } from '../core/chat-call.ts'
import { TextWeigher } from '../../providers/shared/estimate-text-tokens.ts'
import { GatewayError } from '../core/errors.ts'
import { clientClosedError } from '../core/deadline.ts'
import { isProviderError } from '../../providers/spec/provider-error.ts'
import { joinBytes } from '../../providers/shared/read-response-bytes.ts'
import { toGatewayError } from '../middleware/on-error.ts'
import type { DialectCodec } from './dialect-codec.ts'
import { buildResponseHeaders } from './forward-headers.ts'
import type { ChunkReader } from '../core/guard-stream.ts'
import { webStreamBody } from './response-body.ts'
import type { BodySink, BodySource, StreamBodyFactory } from './response-body.ts'

export type StreamEnd = {
  usage: Usage | null
  model: string | null
  error: GatewayError | null
  /** The complete answer, when the call asked for it (`ChatCall.assemble`) and the body held one. */
  answer: ChatResult | null
  /** What a forwarded body said the upstream stored (`ForwardSummary.stored`); `null` for anything else. */
  stored?: ForwardSummary['stored'] | null
  /** A response the upstream runs on after the body ended (`ForwardSummary.running`); `null` for anything else. */
  running?: ForwardSummary['running'] | null
  /** A forwarded whole body (not streamed) as the upstream sent it, when the call asked for its answer. */
  body?: Uint8Array | null
  /** A tap read an in-band error in the forwarded body (`ForwardSummary.error`). */
  inBandError?: boolean
  /**
   * An estimate of the output tokens the body carried, counted as the stream passed (text, reasoning and tool-call
   * argument deltas), for when its usage did not arrive (a stream cut short or a server that reports none): a
   * forwarded stream's from its taps (`ForwardSummary.outputTokensSeen`), a converted stream's from its chunks.
   * `null` where nothing counted (whole bodies, non-generative operations).
   */
  outputTokensSeen?: number | null
}

/** What `onEnd` learns: the status sent to the client and what the body carried. */
export type ResponseEnd = StreamEnd & { status: number }

export type RespondOptions = {
  outcome: ChatOutcome
  /** Headers every response starts with (the request id's). */
  baseHeaders: Record<string, string>
  /** The client is a tenant key: the upstream's rate-limit headers stay out (`copyUpstreamHeaders`). */
  hideUpstreamRateLimits?: boolean
  codec: DialectCodec
  body: Record<string, unknown>
  /** The canonical request, when the executor converted one. */
  canonical: () => ChatRequest
  /**
   * The call wants the complete answer (`ChatCall.assemble`, to be given the same value): a converted stream is then
   * assembled from its chunks into `ResponseEnd.answer`. Forwarded bodies learn it from the answer tap among their taps.
   */
  assemble: boolean
  /** With `assemble`: each canonical chunk of a converted stream as it passes (`ChatCall.onAnswerChunk`). */
  onAnswerChunk?: (chunk: ChatChunk) => void
  /**
   * Records what a forwarded answer says the upstream stored (`ForwardSummary.stored`), with the provider that keeps
   * it. The answer waits for what it returns: a whole body is sent, and a stream's chunk that told it (the terminal
   * event) goes on, only once it has settled, so a client chaining at once, on any instance, is recognised.
   */
  keepForwarded?: (
    stored: NonNullable<ForwardSummary['stored']>,
    provider: string
  ) => Promise<unknown>
  /** Keeps a finished converted answer, as the client received it (`ConvertedContext.keep`). */
  keep?: (answer: Record<string, unknown>) => void | Promise<unknown>
  /** Request fields a converted answer echoes that the body no longer has (`ConvertedContext.echo`). */
  echo?: Record<string, unknown>
  /** Rewrites a non-streamed forwarded body before it is sent (e.g. float embeddings → base64). */
  transformBody?: (bytes: Uint8Array) => Uint8Array
  /** Called once, when the response body has been fully sent, failed, or the client went away. */
  onEnd: (end: ResponseEnd, servedBy: ServedBy) => void
  /**
   * What carries a forwarded stream, or a converted one its codec encodes as a source, to the client
   * (`Deps.streamBody`); a Web stream by default.
   */
  streamBody?: StreamBodyFactory
  /** The runtime's per-request context (`c.env`), for `streamBody`. */
  env?: unknown
}

const utf8 = new TextEncoder()

/** What the taps learned (the first to know a thing wins), and how the body ended. */
const endOf = (taps: readonly ForwardTap[], error: GatewayError | null): StreamEnd => {
  let usage: Usage | null = null
  let model: string | null = null
  let answer: ChatResult | null = null
  let stored: ForwardSummary['stored'] | null = null
  let running: ForwardSummary['running'] | null = null
  let inBand: ForwardSummary['error'] | undefined
  let outputTokensSeen: number | undefined
  for (const tap of taps) {
    const summary = tap.finish()
    inBand ??= summary.error
    usage ??= summary.usage
    model ??= summary.model ?? null
    answer ??= summary.answer ?? null
    stored ??= summary.stored ?? null
    running ??= summary.running ?? null
    outputTokensSeen ??= summary.outputTokensSeen
  }
  // A body that reported its own failure ended in error, though the client has it as the upstream sent it.
  const failure =
    error ??
    (inBand === undefined ? null : new GatewayError('upstream', redactSecrets(inBand.message)))
  const end: StreamEnd = {
    usage,
    model,
    error: failure,
    answer: failure === null ? answer : null,
    stored,
    running,
    outputTokensSeen: outputTokensSeen ?? null,
  }
  if (inBand !== undefined) end.inBandError = true
  return end
}

/**
 * Why a response body was cancelled, as its end reports it. Whoever reads the body cancels it: the runtime when the
 * client went away (@hono/node-server cancels with no reason when the connection closes), or the gateway with an
 * error of its own. No reason, or one that is neither the gateway's nor a provider's error, is the client leaving
 * (499, `client_aborted`), not an internal error.
 */
const cancelledBy = (reason: unknown): GatewayError =>
  toGatewayError(
    reason instanceof GatewayError || isProviderError(reason) ? reason : clientClosedError(reason)
  )

const writeTaps = (taps: readonly ForwardTap[], chunk: Uint8Array): void => {
  for (let index = 0; index < taps.length; index += 1) taps[index].write(chunk)
}

const noBytes = new Uint8Array(0)

/** A forwarded body that held an in-band error, with the gateway's credentials masked (`createSecretMasker`). */
const maskedBody = (body: Uint8Array): Uint8Array => {
  const masker = createSecretMasker()
  return masker === null ? body : joinBytes(masker.push(body), masker.end())
}

/**
 * The complete answer of a call made without `stream` and with `assemble`, and its usage, for a caller that needs the
 * answer itself rather than a response (a prompt cache follower that goes upstream mid-stream). Throws when the call
 * holds none: an upstream error status, or a body the answer tap could not read whole.
 */
export const answerOfOutcome = (
  outcome: ChatOutcome
): { answer: ChatResult; usage: Usage | null; model: string | null } => {
  if (outcome.kind === 'result')
    return { answer: outcome.result, usage: outcome.result.usage, model: outcome.result.model }
  if (outcome.kind === 'forward-complete') {
    writeTaps(outcome.taps, outcome.body)
    const end = endOf(outcome.taps, null)
    if (outcome.status < 300 && end.answer !== null)
      return { answer: end.answer, usage: end.usage, model: end.model }
  }
  throw new GatewayError(
    'upstream',
    `The upstream answered ${'status' in outcome ? outcome.status : 200} without a complete answer.`
  )
}

type KeepStored = (stored: NonNullable<ForwardSummary['stored']>) => Promise<unknown>

/**
 * Asked after each chunk the taps read: the record of what the upstream stored, written once the taps know it
 * (`ForwardTap.stored`), as a promise the chunk waits for; `null` when there is nothing (more) to wait for.
 */
const createStoredKeeper = (
  taps: readonly ForwardTap[],
  keep: KeepStored | undefined
): (() => Promise<unknown> | null) | undefined => {
  if (keep === undefined) return undefined
  let kept = false
  return () => {
    if (kept) return null
    for (const tap of taps) {
      const stored = tap.stored?.()
      if (stored != null) {
        kept = true
        return keep(stored).catch(() => {})
      }
    }
    return null
  }
}

/**
 * Streams forwarded bytes; a failure after the first byte ends the stream with the dialect's error event. The tap
 * reads each chunk as the upstream sent it; `rewrite` (when the adapter asked for more than the client did) then
 * gives the client what it asked for. Pulled, or piped when the reader can be (the Node transport's): the same steps
 * then run synchronously for each chunk, from the upstream socket's data to the client's socket.
 */
type ForwardedSourceOptions = {
  reader: ChunkReader<Uint8Array>
  createClientRewrite?: ForwardResponse['createClientRewrite']
  taps: readonly ForwardTap[]
  codec: DialectCodec
  onEnd: (end: StreamEnd) => void
  keepStored?: KeepStored
}

const forwardedSource = (options: ForwardedSourceOptions): BodySource =>
  new ForwardedSource(options)

/**
 * `forwardedSource`'s source. Classes, not closures over shared state (here and `ForwardedPipe`): a stream holds its
 * source for its whole life, and the dozen closures of the function this replaced outlived the young generation.
 */
class ForwardedSource implements BodySource {
  readonly reader: ChunkReader<Uint8Array>
  readonly rewrite: ReturnType<NonNullable<ForwardResponse['createClientRewrite']>> | undefined
  readonly taps: readonly ForwardTap[]
  readonly #codec: DialectCodec
  readonly #onEnd: (end: StreamEnd) => void
  readonly stored: (() => Promise<unknown> | null) | undefined
  readonly errors: ReturnType<NonNullable<DialectCodec['createStreamErrorEncoder']>> | undefined
  finished = false
  /** Present when the reader can be piped (`ChunkReader.pipe`). */
  readonly pipe: ((sink: BodySink) => PipeControl) | undefined
  /**
   * The taps that tell of an in-band error (`ForwardTap.inError`), asked after each chunk until one has; then `masker`
   * masks the gateway's credentials in every byte sent from that chunk on (an upstream's error may repeat its key).
   */
  #errorWatch: readonly ForwardTap[]
  #masker: SecretMasker | null = null

  constructor(options: ForwardedSourceOptions) {
    this.rewrite = options.createClientRewrite?.()
    this.reader = options.reader
    this.taps = options.taps
    this.#codec = options.codec
    this.#onEnd = options.onEnd
    this.stored = createStoredKeeper(options.taps, options.keepStored)
    this.errors = options.codec.createStreamErrorEncoder?.()
    this.pipe = options.reader.pipe === undefined ? undefined : this.#pipe
    this.#errorWatch = options.taps.filter((tap) => tap.inError !== undefined)
  }

  /** `out` as the client gets it: from the chunk in which a tap read an in-band error, masked. */
  masked(out: Uint8Array): Uint8Array {
    if (this.#masker !== null) return this.#masker.push(out)
    const watch = this.#errorWatch
    if (watch.length === 0) return out
    for (let index = 0; index < watch.length; index += 1)
      if (watch[index].inError!()) {
        this.#errorWatch = []
        this.#masker = createSecretMasker()
        return this.#masker === null ? out : this.#masker.push(out)
      }
    return out
  }

  /** What the masker still holds, to send before the body's end or an error event of the gateway's. */
  maskedRest(): Uint8Array {
    return this.#masker === null ? noBytes : this.#masker.end()
  }

  /** The last bytes of a body that ended: what the rewrite held back, then what the masker did. */
  lastBytes(): Uint8Array | null {
    const rest = this.rewrite?.end()
    const last = joinBytes(
      rest && rest.byteLength > 0 ? this.masked(rest) : noBytes,
      this.maskedRest()
    )
    return last.byteLength > 0 ? last : null
  }

  errorEvent(error: GatewayError): Uint8Array {
    return this.errors === undefined
      ? this.#codec.encodeErrorEvent(error)
      : this.errors.encode(error)
  }

  /** The stream's end, told once: what the taps learned, and the failure if any. */
  end(error: GatewayError | null): void {
    this.#onEnd(endOf(this.taps, error))
  }

  async pull(): Promise<Uint8Array | null> {
    if (this.finished) return null
    const { reader, taps, rewrite, stored } = this
    try {
      // A rewrite may hold a chunk back (an incomplete event): read on until there is something to send.
      for (;;) {
        const { done, value } = await reader.read()
        if (done) {
          this.finished = true
          const last = this.lastBytes()
          this.end(null)
          return last
        }
        writeTaps(taps, value)
        if (stored !== undefined) {
          const waiting = stored()
          if (waiting !== null) await waiting
        }
        const out = this.masked(rewrite ? rewrite.push(value) : value)
        if (out.byteLength > 0) {
          this.errors?.write(out)
          return out
        }
      }
    } catch (error) {
      this.finished = true
      const gatewayError = toGatewayError(error)
      this.end(gatewayError)
      return joinBytes(this.maskedRest(), this.errorEvent(gatewayError))
    }
  }

  async cancel(reason: unknown): Promise<void> {
    if (!this.finished) {
      this.finished = true
      this.end(cancelledBy(reason))
    }
    await this.reader.cancel(reason).catch(() => {})
  }

  #pipe(sink: BodySink): PipeControl {
    const piped = new ForwardedPipe(this, sink)
    const control = this.reader.pipe!(piped)
    piped.control = control
    return control
  }
}

/** What the upstream reader is piped to: each chunk through the taps and the rewrite, then to the client's sink. */
class ForwardedPipe implements ChunkSink<Uint8Array> {
  readonly #source: ForwardedSource
  readonly #sink: BodySink
  /** The upstream's control, set as soon as the reader is piped here (before any record's release can run). */
  control: PipeControl | null = null
  /**
   * While a record is written (`keepStored`): the chunks held back, and the end if it came meanwhile. The source was
   * asked to pause (`write` answered `false`); what it still sends joins them.
   */
  #held: Uint8Array[] | null = null
  #heldEnd: (() => void) | null = null
  /** Made when a record is first written (`keepStored`): most streams never hold a chunk back. */
  #release: (() => void) | undefined

  #released(): void {
    const chunks = this.#held ?? []
    const end = this.#heldEnd
    this.#held = null
    this.#heldEnd = null
    if (this.#source.finished) return
    let flowing = true
    for (const chunk of chunks) flowing = this.#sink.write(chunk)
    if (end !== null) end()
    // A sink that answered `false` resumes the source itself, once it has drained.
    else if (flowing) this.control?.resume()
  }

  constructor(source: ForwardedSource, sink: BodySink) {
    this.#source = source
    this.#sink = sink
  }

  #fail(error: unknown): void {
    const source = this.#source
    if (source.finished) return
    source.finished = true
    const gatewayError = toGatewayError(error)
    source.end(gatewayError)
    const rest = source.maskedRest()
    if (rest.byteLength > 0) this.#sink.write(rest)
    this.#sink.write(source.errorEvent(gatewayError))
    this.#sink.close()
  }

  #close(): void {
    const source = this.#source
    if (source.finished) return
    source.finished = true
    try {
      const last = source.lastBytes()
      if (last !== null) this.#sink.write(last)
      source.end(null)
    } finally {
      this.#sink.close()
    }
  }

  write(chunk: Uint8Array): boolean {
    const source = this.#source
    if (source.finished) return true
    try {
      writeTaps(source.taps, chunk)
      const out = source.masked(source.rewrite ? source.rewrite.push(chunk) : chunk)
      if (out.byteLength > 0) source.errors?.write(out)
      if (this.#held !== null) {
        if (out.byteLength > 0) this.#held.push(out)
        return false
      }
      const waiting = source.stored === undefined ? null : source.stored()
      if (waiting !== null) {
        this.#held = out.byteLength > 0 ? [out] : []
        void waiting.then((this.#release ??= () => this.#released()))
        return false
      }
      if (out.byteLength === 0) return true
      return this.#sink.write(out)
    } catch (error) {
      // A tap or the rewrite failed: the gateway's own fault, told to the client in-band.
      this.#fail(error)
      source.reader.cancel(error).catch(() => {})
      return true
    }
  }

  close(): void {
    if (this.#held !== null) this.#heldEnd = () => this.#close()
    else this.#close()
  }

  error(error: unknown): void {
    if (this.#held !== null) this.#heldEnd = () => this.#fail(error)
    else this.#fail(error)
  }
}

type WatchChunksOptions = {
  reader: ChunkReader<ChatChunk>
  assemble: boolean
  onChunk?: (chunk: ChatChunk) => void
  onEnd: (end: StreamEnd) => void
}

/** What a watch learns from each chunk (`see`), reported once when the stream ends (`end`). */
const createChunkWatch = (options: WatchChunksOptions) => {
  const { onEnd, onChunk } = options
  const assembler = options.assemble ? createChatResultAssembler() : null
  let usage: Usage | null = null
  let model: string | null = null
  let ended = false
  /** For `outputTokensSeen`: the generated text, weighed. */
  const weigher = new TextWeigher()
  return {
    see(value: ChatChunk): void {
      if (
        value.type === 'text-delta' ||
        value.type === 'reasoning-delta' ||
        value.type === 'refusal-delta'
      )
        weigher.add(value.delta)
      else if (value.type === 'tool-call-delta') weigher.add(value.argumentsDelta)
      else if (value.type === 'usage') usage = value.usage
      else if (value.type === 'start') {
        model = value.model
        if (value.usage) usage = value.usage
      }
      assembler?.push(value)
      onChunk?.(value)
    },
    end(error: GatewayError | null): void {
      if (ended) return
      ended = true
      onEnd({
        usage,
        model,
        error,
        answer: error === null && assembler !== null ? assembler.finish() : null,
        outputTokensSeen: weigher.total(),
      })
    },
  }
}

/**
 * Watches canonical chunks for usage and the end of the stream, passing them through unchanged; when the call wants
 * the answer, also assembles them into it (reported only for a stream that ended without error).
 */
export const watchChunks = (options: WatchChunksOptions): ReadableStream<ChatChunk> => {
  const { reader } = options
  const watch = createChunkWatch(options)
  return new ReadableStream<ChatChunk>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read()
        if (done) {
          controller.close()
          watch.end(null)
          return
        }
        watch.see(value)
        controller.enqueue(value)
      } catch (error) {
        watch.end(toGatewayError(error))
        controller.error(error)
      }
    },
    async cancel(reason) {
      watch.end(cancelledBy(reason))
      await reader.cancel(reason).catch(() => {})
    },
  })
}

/**
 * `report`, once, with the status sent. Made apart from `respondChat`: a stream holds it for its whole life, and a
 * closure there would hold the options with it (the request's body, parsed, and its canonical form).
 */
const reportEndOnce = (
  report: RespondOptions['onEnd'],
  status: number,
  servedBy: ServedBy
): ((end: StreamEnd) => void) => {
  let ended = false
  return (end) => {
    if (ended) return
    ended = true
    report(
      {
        usage: end.usage,
        model: end.model,
        error: end.error,
        answer: end.answer,
        stored: end.stored ?? null,
        running: end.running ?? null,
        body: end.body ?? null,
        outputTokensSeen: end.outputTokensSeen ?? null,
        status,
      },
      servedBy
    )
  }
}

/** `watchChunks` as a reader, with no Web stream: for a codec that encodes from one (`encodeStreamSource`). */
export const watchChunkReader = (options: WatchChunksOptions): ChunkReader<ChatChunk> => {
  const { reader } = options
  const watch = createChunkWatch(options)
  const onRead = (result: ReadableStreamReadResult<ChatChunk>) => {
    if (result.done) watch.end(null)
    else watch.see(result.value)
    return result
  }
  const onFailure = (error: unknown): never => {
    watch.end(toGatewayError(error))
    throw error
  }
  return {
    read: () => reader.read().then(onRead, onFailure),
    async cancel(reason) {
      watch.end(cancelledBy(reason))
      await reader.cancel(reason).catch(() => {})
    },
  }
}

const addHeaders = (
  headers: Record<string, string>,
  more: Record<string, string> | undefined
): void => {
  if (more !== undefined) for (const name in more) headers[name] = more[name]
}

/**
 * The client's response for an outcome. Synchronous, but where the answer must wait for something first (a record
 * kept before the client can chain on it): an async function here would cost every request a promise, and the
 * handler that returns it two more microtasks for adopting it.
 */
export const respondChat = (options: RespondOptions): Response | Promise<Response> => {
  const { outcome, codec } = options
  const servedBy = outcome.servedBy
  const status =
    outcome.kind === 'forward-complete' || outcome.kind === 'forward' ? outcome.status : 200
  const onEnd = reportEndOnce(options.onEnd, status, servedBy)
  switch (outcome.kind) {
    case 'forward-complete': {
      const contentType = outcome.headers.get('content-type') ?? 'application/json'
      const headers = buildResponseHeaders({
        base: options.baseHeaders,
        upstream: outcome.headers,
        hideUpstreamRateLimits: options.hideUpstreamRateLimits,
        servedBy,
        contentType,
      })
      writeTaps(outcome.taps, outcome.body)
      const end = endOf(outcome.taps, null)
      if (options.assemble) end.body = outcome.body
      onEnd(end)
      const forwarded = end.inBandError === true ? maskedBody(outcome.body) : outcome.body
      const body = options.transformBody ? options.transformBody(forwarded) : forwarded
      const respond = (): Response =>
        new Response(body as Uint8Array<ArrayBuffer>, { status: outcome.status, headers })
      if (options.keepForwarded !== undefined && end.stored != null)
        return options
          .keepForwarded(end.stored, servedBy.provider)
          .catch(() => {})
          .then(respond)
      return respond()
    }
    case 'forward': {
      const contentType = outcome.headers.get('content-type') ?? 'text/event-stream'
      const headers = buildResponseHeaders({
        base: options.baseHeaders,
        upstream: outcome.headers,
        hideUpstreamRateLimits: options.hideUpstreamRateLimits,
        servedBy,
        contentType,
      })
      const { reader, createClientRewrite, taps } = outcome
      const keepForwarded = options.keepForwarded
      const body = (options.streamBody ?? webStreamBody)(
        forwardedSource({
          reader,
          createClientRewrite,
          taps,
          codec,
          onEnd,
          keepStored:
            keepForwarded === undefined
              ? undefined
              : (stored) => keepForwarded(stored, servedBy.provider),
        }),
        options.env
      )
      return new Response(body, { status: outcome.status, headers })
    }
    case 'result': {
      // What the answer is kept as is there before the client has the answer (a client may chain at once).
      let kept: void | Promise<unknown> = undefined
      const keep = options.keep
      const context = {
        request: options.canonical(),
        body: options.body,
        keep:
          keep === undefined
            ? undefined
            : (answer: Record<string, unknown>) => (kept = keep(answer)),
        echo: options.echo,
      }
      const headers = buildResponseHeaders({
        base: options.baseHeaders,
        upstream: outcome.upstreamHeaders,
        servedBy,
        contentType: 'application/json',
        hideUpstreamRateLimits: options.hideUpstreamRateLimits,
      })
      addHeaders(headers, codec.convertedHeaders?.(context))
      onEnd({
        usage: outcome.result.usage,
        model: outcome.result.model,
        error: null,
        answer: outcome.result,
      })
      const encoded = JSON.stringify(codec.encodeResult(outcome.result, context))
      const respond = (): Response => new Response(encoded, { status: 200, headers })
      // `keep` ran synchronously inside `encodeResult`, if at all: what it gave back is there now.
      const keeping = kept as void | Promise<unknown>
      return keeping === undefined
        ? respond()
        : Promise.resolve(keeping)
            .catch(() => {})
            .then(respond)
    }
    case 'stream': {
      const context = {
        request: options.canonical(),
        body: options.body,
        keep: options.keep,
        echo: options.echo,
      }
      const headers = buildResponseHeaders({
        base: options.baseHeaders,
        upstream: outcome.upstreamHeaders,
        servedBy,
        contentType: 'text/event-stream; charset=utf-8',
        hideUpstreamRateLimits: options.hideUpstreamRateLimits,
      })
      addHeaders(headers, codec.convertedHeaders?.(context))
      const watched = {
        reader: outcome.reader,
        assemble: options.assemble,
        onChunk: options.onAnswerChunk,
        onEnd,
      }
      const body =
        codec.encodeStreamSource === undefined
          ? codec.encodeStream(watchChunks(watched), context)
          : (options.streamBody ?? webStreamBody)(
              codec.encodeStreamSource(watchChunkReader(watched), context),
              options.env
            )
      return new Response(body, { status: 200, headers })
    }
    case 'embeddings': {
      // Encoded as the client asked (floats or base64): `transformBody`, which re-encodes a forwarded body's floats,
      // has nothing to do here.
      const headers = buildResponseHeaders({
        base: options.baseHeaders,
        servedBy,
        contentType: 'application/json',
      })
      const encoded = utf8.encode(codec.encodeEmbeddings!(outcome.result, options.body))
      onEnd({
        usage: outcome.result.usage,
        model: outcome.result.model,
        error: null,
        answer: null,
        // What the prompt cache keeps of embeddings: the body, as for a forwarded one.
        body: options.assemble ? encoded : null,
      })
      return new Response(encoded, { status: 200, headers })
    }
    case 'count': {
      const headers = buildResponseHeaders({
        base: options.baseHeaders,
        servedBy,
        contentType: 'application/json',
      })
      if (outcome.estimated) headers['x-gatehouse-token-count'] = 'estimated'
      onEnd({ usage: null, model: null, error: null, answer: null })
      return new Response(JSON.stringify({ input_tokens: outcome.inputTokens }), {
        status: 200,
        headers,
      })
    }
  }
}
