/**
 * What one generation makes of its tokens, however they are produced (`run-generation.ts` for a generation of its own,
 * `create-generation-batcher.ts` for one that shares its forward passes): each token is decoded with its neighbours
 * (`create-incremental-decoder.ts`), matched against the stop sequences (`create-stop-sequence-matcher.ts`) and
 * posted to the main thread; the generation ends at an end-of-sequence token, a stop sequence, `maxNewTokens` or a
 * cancel, and the end is posted once.
 *
 * Text goes out at once when `intervalMs` has passed since the last piece (always the first one, and every token of a
 * model slower than that); text that comes sooner waits at most `intervalMs`, then leaves as one piece, so a model
 * generating thousands of tokens a second does not ask the serving thread for one message and one socket write per
 * token (writes were 40% of its time at 5,000 tokens/s on the tiny model). The end flushes what waits first.
 */
import { createIncrementalDecoder } from './create-incremental-decoder.ts'
import { createStopSequenceMatcher } from './create-stop-sequence-matcher.ts'
import type { EndReason, FromWorker, GenerateJob } from './local-worker-messages.ts'
import type { LoadedModel } from './loaded-model.ts'

export type GenerationOutput = {
  /** Takes the next generated token; true when the generation has ended (its end is not posted yet). */
  push(token: number): boolean
  /** True once ended or cancelled: no more tokens wanted. */
  readonly over: boolean
  /** Tokens generated so far, an end-of-sequence token included. */
  readonly outputTokens: number
  cancel(): void
  /** Posts the rest of the text and the end (`end` with its reason, or a cancelled end). */
  finish(): void
  /** Posts a failure instead of an end. */
  fail(message: string): void
}

export const createGenerationOutput = (options: {
  id: number
  loaded: LoadedModel
  job: GenerateJob
  send: (message: FromWorker) => void
  /** The least time between two text messages (0: one per decoded piece). */
  intervalMs: number
}): GenerationOutput => {
  const { id, loaded, job, send, intervalMs } = options
  const decoder = createIncrementalDecoder((ids) =>
    loaded.tokenizer.decode(ids, { skip_special_tokens: true })
  )
  const matcher = createStopSequenceMatcher(job.stop)
  let outputTokens = 0
  let reason: EndReason | null = null
  let stopSequence: string | null = null
  /** How many tokens there were when the cancel was read; `null`: not cancelled. */
  let cancelledAt: number | null = null
  let posted = false
  let waiting = ''
  let lastSentAt = Number.NEGATIVE_INFINITY
  let timer: ReturnType<typeof setTimeout> | undefined

  const flush = (): void => {
    clearTimeout(timer)
    timer = undefined
    if (waiting === '') return
    send({ type: 'text', id, text: waiting })
    waiting = ''
    lastSentAt = performance.now()
  }
  const emit = (text: string): void => {
    if (text === '') return
    waiting += text
    const since = performance.now() - lastSentAt
    if (since >= intervalMs) flush()
    else timer ??= setTimeout(flush, intervalMs - since)
  }
  /** Shows what a piece of text allows; true when it completed a stop sequence. */
  const show = (piece: string): boolean => {
    const { text, stop } = matcher.push(piece)
    emit(text)
    if (stop === null) return false
    reason = 'stop-sequence'
    stopSequence = stop
    return true
  }

  return {
    get over() {
      return reason !== null || cancelledAt !== null
    },
    get outputTokens() {
      return outputTokens
    },
    push(token) {
      if (reason !== null || cancelledAt !== null) return true
      outputTokens += 1
      if (loaded.endTokens.has(token)) {
        reason = 'end-token'
        return true
      }
      const piece = decoder.push(token)
      if (piece !== '' && show(piece)) return true
      if (outputTokens >= job.maxNewTokens) reason = 'length'
      return reason !== null
    },
    cancel() {
      cancelledAt ??= outputTokens
    },
    finish() {
      if (posted) return
      posted = true
      if (reason === null && cancelledAt !== null) {
        flush()
        send({
          type: 'end',
          id,
          reason: 'cancelled',
          stopSequence: null,
          outputTokens,
          cancelledAt,
        })
        return
      }
      // What the decoder and the matcher still hold belongs to the answer, unless it completes a stop sequence.
      if (reason !== 'stop-sequence' && !show(decoder.flush())) emit(matcher.flush())
      flush()
      send({ type: 'end', id, reason: reason ?? 'length', stopSequence, outputTokens })
    },
    fail(message) {
      if (posted) return
      posted = true
      flush()
      send({ type: 'failed', id, message })
    },
  }
}
