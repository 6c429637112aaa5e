/**
 * A prompt cache hit as the client's response, in its protocol: a non-streamed request gets the codec's JSON of the
 * stored answer; a streamed one gets the codec's stream of it (role, content and tool-call deltas, the finish reason,
 * the usage chunk when asked for, the end marker, or the Anthropic event sequence), whether the answer was stored
 * from a stream or not. A request following an identical one in flight reads the leader's chunks as they arrive.
 * An answer kept whole (embeddings) is sent as the upstream sent it, through the same rewrite a miss gets. A Responses
 * answer is kept by the route (`keep`, its `store`) before the client has it, under the new id the codec gave it.
 * Headers are those of an answered call (`x-gatehouse-provider`, `-model`; `x-gatehouse-attempts: 0`), and the
 * caller adds the cache's.
 *
 * A hit on a stored answer is encoded once per stored value: the body a codec made of it (one whose whole body depends
 * on the answer alone, `DialectCodec.encodesAnswerAlone`), or the bytes of a whole body, is kept with the stored value
 * (`CacheHit.encoded`) and sent again to the next hits on it, which then cost a lookup and a write.
 */
import type { ChatChunk, ChatRequest, ChatResult } from '../../providers/spec/chat-types.ts'
import { chunksOfAnswer } from '../core/cache/answer-chunks.ts'
import type { CacheHit } from '../core/cache/prompt-cache.ts'
import type { ServedBy } from '../core/chat-call.ts'
import type { GatewayError } from '../core/errors.ts'
import type { ConvertedContext, DialectCodec } from './dialect-codec.ts'
import { buildResponseHeaders } from './forward-headers.ts'
import { watchChunks } from './respond-chat.ts'

export type CachedResponseEnd = {
  /** The answer the client received whole; `null` when its stream failed or it left. */
  answer: ChatResult | null
  error: GatewayError | null
}

/** A reader over chunks already at hand. */
const readerOf = (chunks: ChatChunk[]) => {
  let next = 0
  return {
    read: async (): Promise<ReadableStreamReadResult<ChatChunk>> =>
      next < chunks.length
        ? { done: false, value: chunks[next++] }
        : { done: true, value: undefined },
    cancel: async () => {
      next = chunks.length
    },
  }
}

export const respondFromCache = (options: {
  hit: CacheHit
  stream: boolean
  codec: DialectCodec
  body: Record<string, unknown>
  /**
   * The canonical request, for a codec whose stream needs it (Anthropic's: its input estimate, should the answer lack
   * usage). A request only Anthropic's own API can take has none: a minimal one stands in.
   */
  canonical: () => ChatRequest
  /** The route's keeper of the answer as the client receives it (the Responses API's `store`). */
  keep?: ConvertedContext['keep']
  /** Request fields the body no longer has, which the answer echoes (an expanded Responses chain). */
  echo?: ConvertedContext['echo']
  /** The rewrite a whole body gets on its way to the client (float embeddings → base64), as on a miss. */
  transformBody?: (bytes: Uint8Array) => Uint8Array
  baseHeaders: Record<string, string>
  /** The cache's headers (`x-gatehouse-cache`...). */
  cacheHeaders: (headers: Record<string, string>) => void
  now: number
  /** Once the body is sent (at once when not streamed), failed, or the client left. */
  onEnd: (end: CachedResponseEnd) => void
}): Promise<Response> | Response => {
  const { hit, codec, stream } = options
  const servedBy: ServedBy = {
    provider: hit.provider,
    model: hit.model,
    attempts: 0,
    firstByteAt: options.now,
  }
  const headers = buildResponseHeaders({
    base: options.baseHeaders,
    servedBy,
    contentType: stream ? 'text/event-stream; charset=utf-8' : 'application/json',
  })
  options.cacheHeaders(headers)
  if (hit.whole !== null) {
    const bytes = encodedOnce(hit.encoded, wholeBody, () => encoder.encode(hit.whole!.body))
    options.onEnd({ answer: null, error: null })
    return new Response(
      (options.transformBody ? options.transformBody(bytes) : bytes) as Uint8Array<ArrayBuffer>,
      { status: 200, headers }
    )
  }
  if (!stream) return respondWhole(options, hit.answer!, headers)
  let request: ChatRequest
  try {
    request = { ...options.canonical(), model: hit.model, stream: true }
  } catch {
    request = { model: hit.model, messages: [], stream: true }
  }
  // A follower's answer is known once the leader's chunks are all read; a stored one is the answer they are made of.
  const stored = hit.reader === null ? hit.answer : null
  const reader = hit.reader ?? readerOf(chunksOfAnswer(stored!))
  const chunks = watchChunks({
    reader,
    assemble: stored === null,
    onEnd: ({ answer, error }) =>
      options.onEnd({ answer: stored !== null && error === null ? stored : answer, error }),
  })
  return new Response(
    codec.encodeStream(chunks, {
      request,
      body: options.body,
      keep: options.keep,
      echo: options.echo,
    }),
    { status: 200, headers }
  )
}

const encoder = new TextEncoder()

/** The key of a whole body's bytes in `CacheHit.encoded`. */
const wholeBody = Symbol('whole body')

/** What `encoded` holds under `key`, made by `encode` (and kept there) the first time. */
const encodedOnce = (
  encoded: Map<unknown, Uint8Array> | null,
  key: unknown,
  encode: () => Uint8Array
): Uint8Array => {
  if (encoded === null) return encode()
  let bytes = encoded.get(key)
  if (bytes === undefined) {
    bytes = encode()
    encoded.set(key, bytes)
  }
  return bytes
}

/** A hit for a non-streamed request: the codec's JSON of the answer, sent once the route has kept it. */
const respondWhole = (
  options: Parameters<typeof respondFromCache>[0],
  answer: ChatResult,
  headers: Record<string, string>
): Promise<Response> | Response => {
  const { codec } = options
  if (codec.encodesAnswerAlone === true && options.keep === undefined) {
    const bytes = encodedOnce(options.hit.encoded, codec, () => {
      const request: ChatRequest = { model: answer.model, messages: [], stream: false }
      const encoded = codec.encodeResult(answer, { request, body: options.body })
      return encoder.encode(JSON.stringify(encoded))
    })
    options.onEnd({ answer, error: null })
    return new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200, headers })
  }
  return respondKept(options, answer, headers)
}

/** The same, through a codec whose body depends on the request too, or for a route that keeps the answer. */
const respondKept = async (
  options: Parameters<typeof respondFromCache>[0],
  answer: ChatResult,
  headers: Record<string, string>
): Promise<Response> => {
  let kept: void | Promise<unknown> = undefined
  const keep = options.keep
  const context: ConvertedContext = {
    request: { model: answer.model, messages: [], stream: false },
    body: options.body,
    keep: keep === undefined ? undefined : (encoded) => (kept = keep(encoded)),
    echo: options.echo,
  }
  const encoded = JSON.stringify(options.codec.encodeResult(answer, context))
  options.onEnd({ answer, error: null })
  // As on a miss: what the answer is kept as is there before the client has it (a client may chain at once).
  await Promise.resolve(kept).catch(() => {})
  return new Response(encoded, { status: 200, headers })
}
