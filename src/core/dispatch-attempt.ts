/**
 * One upstream attempt: call the adapter under the attempt's first-byte timer, wait for the first byte (response
 * headers; the first body chunk for streams; the whole body for a non-streamed passthrough, read here so that a body
 * that breaks off can still be retried), and hand back an outcome whose stream is guarded by the idle and total
 * timeouts. Until this resolves the executor may still retry or fall back; after it, it may not.
 */
import type { ChatChunk, ChatRequest, ChatResult } from '../../providers/spec/chat-types.ts'
import type { EmbedRequest, EmbedResult } from '../../providers/spec/embedding-types.ts'
import type {
  CallContext,
  ForwardResponse,
  ForwardTap,
} from '../../providers/spec/provider-adapter.ts'
import type { ChatCall, ChatOutcome, ServedBy } from './chat-call.ts'
import type { Clock } from './clock.ts'
import type { Deadline } from './deadline.ts'
import {
  guardReader,
  peekFirstChunk,
  type ChunkReader,
  type GuardedStreamEnd,
} from './guard-stream.ts'
import { forwardedBodyProblem } from '../../providers/shared/check-forwarded-body.ts'
import { inBandFailure, streamClosedEarly } from '../../providers/shared/sse-stream-failures.ts'
import { bodyReader, readResponseBytes } from '../../providers/shared/read-response-bytes.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { Target } from './model-router.ts'

export type AttemptPlan =
  /** The target serves the operation natively: the client's body goes upstream with only the model changed. */
  | { kind: 'forward' }
  /** Converted: the canonical request, `model` already set to the target's. */
  | { kind: 'chat'; request: ChatRequest; defaultedMaxTokens?: number }
  /** Embeddings through the adapter's `embed`: the canonical request, `model` already set to the target's. */
  | { kind: 'embed'; request: EmbedRequest }

type Delivered =
  | {
      kind: 'forward'
      response: ForwardResponse
      reader: ChunkReader<Uint8Array>
      first: ReadableStreamReadResult<Uint8Array>
    }
  | { kind: 'forward-complete'; response: ForwardResponse; body: Uint8Array }
  | { kind: 'stream'; reader: ChunkReader<ChatChunk>; first: ReadableStreamReadResult<ChatChunk> }
  | { kind: 'result'; result: ChatResult }
  | { kind: 'embeddings'; result: EmbedResult }

/**
 * A 2xx answer that is not what the API sends (`check-forwarded-body.ts`): the upstream's fault, a 502, and the next
 * target is tried. The start of the body goes to the log only.
 */
const nonsense = (options: {
  problem: string
  bytes: Uint8Array | undefined
  providerId: string
}): ProviderError =>
  new ProviderError({
    kind: 'bad-response',
    status: 502,
    message: options.problem,
    providerId: options.providerId,
    detail:
      options.bytes === undefined
        ? undefined
        : new TextDecoder().decode(options.bytes.subarray(0, 2048)),
  })

const discardBody = (response: ForwardResponse): void => {
  response.body.cancel().catch(() => {})
}

/** The forward taps the call's answer passes through: the adapter's usage tap, and its answer tap when asked. */
const tapsFor = (target: Target, call: ChatCall): ForwardTap[] => {
  const adapter = target.provider.adapter
  const taps: ForwardTap[] = []
  const usage = adapter.createForwardTap?.({ operation: call.operation, stream: call.stream })
  if (usage) taps.push(usage)
  const answer = call.assemble
    ? adapter.createAnswerTap?.({
        operation: call.operation,
        stream: call.stream,
        onChunk: call.onAnswerChunk,
      })
    : undefined
  if (answer) taps.push(answer)
  return taps
}

/**
 * What a forwarded stream's end means, as its taps read the body (`ForwardTap.end`): one that stopped before its
 * format's end fails (the client then gets the dialect's error event, the usage event the error, the breaker the
 * failure); one that reported its own failure in-band ends as it is, the failure counted for the breaker.
 */
const judgeForwardedEnd = (
  taps: readonly ForwardTap[],
  providerId: string
): { fail: ProviderError } | { report: ProviderError } | null => {
  for (const tap of taps) {
    const end = tap.end?.()
    if (end === undefined || end.kind === 'complete') continue
    if (end.kind === 'cut') return { fail: streamClosedEarly(providerId) }
    return { report: inBandFailure(providerId, end.error) }
  }
  return null
}

/** Runs one attempt; rejects with whatever the adapter threw, or with the scope's abort reason when it fired. */
export const dispatchAttempt = async (options: {
  target: Target
  plan: AttemptPlan
  call: ChatCall
  clock: Clock
  deadline: Deadline
  /** Attempts made so far across targets, this one included. */
  attempt: number
  /** A stream handed to the client has ended (completed, broken after its first byte, or the client left). */
  onStreamEnd?: (end: GuardedStreamEnd) => void
}): Promise<ChatOutcome> => {
  const { target, plan, call, clock, deadline, attempt, onStreamEnd } = options
  const providerId = target.provider.config.id
  const scope = deadline.startAttempt({ firstByteMs: target.timeouts.firstByteMs, providerId })
  const context: CallContext = {
    signal: scope.signal,
    requestId: call.requestId,
    connectTimeoutMs: target.timeouts.connectMs,
    // Set by an HTTP adapter on a converted call (in the literal, so the object keeps one shape).
    upstreamHeaders: undefined,
    omittedParams: undefined,
  }
  const adapter = target.provider.adapter
  // Delivered in this frame (no function of its own: one async frame, and its promises, fewer per attempt).
  let delivered: Delivered
  try {
    if (plan.kind === 'forward') {
      const request = {
        operation: call.operation,
        body: call.body,
        model: target.model,
        headers: call.headers,
        text: call.bodyText,
        query: call.query,
      }
      // An adapter whose calls fail on their own when the scope aborts needs no race around them.
      const settles = adapter.settlesOnAbort === true
      const forwarded = adapter.forward!(request, context)
      const response = settles ? await forwarded : await scope.race(forwarded, discardBody)
      if (!call.stream) {
        const reading = readResponseBytes(response)
        const body = settles ? await reading : await scope.race(reading)
        const problem = forwardedBodyProblem(body, 'json')
        if (problem !== null) throw nonsense({ problem, bytes: body, providerId })
        delivered = { kind: 'forward-complete', response, body }
      } else {
        const { reader, first } = await peekFirstChunk({ reader: bodyReader(response), scope })
        const problem = first.done
          ? 'The upstream answered with an empty stream.'
          : forwardedBodyProblem(first.value, 'sse')
        if (problem !== null) {
          reader.cancel().catch(() => {})
          throw nonsense({ problem, bytes: first.value, providerId })
        }
        delivered = { kind: 'forward', response, reader, first }
      }
    } else if (plan.kind === 'embed')
      delivered = {
        kind: 'embeddings',
        result: await scope.race(adapter.embed!(plan.request, context)),
      }
    else if (!call.stream)
      delivered = { kind: 'result', result: await scope.race(adapter.chat(plan.request, context)) }
    else {
      const stream = await scope.race(adapter.streamChat(plan.request, context), (late) => {
        late.cancel().catch(() => {})
      })
      const { reader, first } = await peekFirstChunk({ reader: stream.getReader(), scope })
      delivered = { kind: 'stream', reader, first }
    }
  } catch (error) {
    scope.dispose()
    throw scope.signal.aborted ? scope.signal.reason : error
  }
  scope.firstByteReceived()
  const servedBy: ServedBy = {
    provider: providerId,
    model: target.model,
    attempts: attempt,
    firstByteAt: clock.now(),
  }
  if (plan.kind === 'chat' && plan.defaultedMaxTokens !== undefined)
    servedBy.defaultedMaxTokens = plan.defaultedMaxTokens
  const omitted = context.omittedParams
  if (omitted !== undefined)
    servedBy.omittedParams =
      call.clientParam === undefined ? omitted : omitted.map(call.clientParam)
  const release = (): void => {
    scope.dispose()
    deadline.dispose()
  }
  /** The stream's reader, guarded by the idle timeout and the scope; its end releases the attempt. */
  const guard = <T>(
    reader: ChunkReader<T>,
    first?: ReadableStreamReadResult<T>,
    taps?: readonly ForwardTap[]
  ): ChunkReader<T> =>
    guardReader({
      reader,
      first,
      clock,
      idleMs: target.timeouts.idleMs,
      signal: scope.signal,
      providerId,
      onEnd: (end) => {
        release()
        onStreamEnd?.(end)
      },
      judgeEnd: taps === undefined ? undefined : () => judgeForwardedEnd(taps, providerId),
    })
  switch (delivered.kind) {
    case 'result':
      release()
      return {
        kind: 'result',
        result: delivered.result,
        servedBy,
        upstreamHeaders: context.upstreamHeaders,
      }
    case 'embeddings':
      release()
      return { kind: 'embeddings', result: delivered.result, servedBy }
    case 'stream':
      return {
        kind: 'stream',
        reader: guard(delivered.reader, delivered.first),
        servedBy,
        upstreamHeaders: context.upstreamHeaders,
      }
    case 'forward-complete': {
      release()
      const { response, body } = delivered
      return {
        kind: 'forward-complete',
        status: response.status,
        headers: response.headers,
        body,
        taps: tapsFor(target, call),
        servedBy,
      }
    }
    case 'forward': {
      const { response } = delivered
      const taps = tapsFor(target, call)
      return {
        kind: 'forward',
        status: response.status,
        headers: response.headers,
        reader: guard(delivered.reader, delivered.first, taps),
        createClientRewrite: response.createClientRewrite,
        taps,
        servedBy,
      }
    }
  }
}
