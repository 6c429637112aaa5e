/**
 * One generation in a model worker, through Transformers.js's `generate` (which runs the KV cache, position ids and
 * the model's own logits processors, such as a `repetition_penalty` from its `generation_config.json`). What it does
 * not do the way a gateway must is done here, in hooks `generate` calls once per step:
 * - sampling: a processor of our own draws the token with this request's seeded generator (`sample-token.ts`) and
 *   leaves only it standing, so `generate`'s greedy pick takes it. Transformers.js 4.3 ignores `top_p` and `top_k`
 *   (their warpers are unfinished), and its only generator is global, shared by every request in the thread;
 * - text: each new token is decoded with its neighbours (`create-incremental-decoder.ts`), matched against the stop
 *   sequences (`create-stop-sequence-matcher.ts`) and posted to the main thread as it comes;
 * - stopping: at an end-of-sequence token, a stop sequence, `maxNewTokens` or a cancel. `generate` awaits onnxruntime
 *   through a `setImmediate` each step, so a cancel message is read between two steps and the next check stops it.
 */
import {
  BaseStreamer,
  LogitsProcessor,
  LogitsProcessorList,
  StoppingCriteria,
  Tensor,
} from '@huggingface/transformers'
import type { PreTrainedModel, PreTrainedTokenizer, TextStreamer } from '@huggingface/transformers'
import { createIncrementalDecoder } from './create-incremental-decoder.ts'
import { createSeededRandom } from './create-seeded-random.ts'
import { createStopSequenceMatcher } from './create-stop-sequence-matcher.ts'
import type { EndReason, FromWorker, GenerateJob } from './local-worker-messages.ts'
import { sampleToken, type SamplingSettings } from './sample-token.ts'

export type LoadedModel = {
  tokenizer: PreTrainedTokenizer
  model: PreTrainedModel
  /** The tokens that end a sequence (`eos_token_id` of the generation config, else of the model config). */
  endTokens: ReadonlySet<number>
}

/** Draws each row's token and rules out every other one, so that greedy selection picks the drawn token. */
class SeededSampler extends LogitsProcessor {
  readonly settings: SamplingSettings

  constructor(settings: SamplingSettings) {
    super()
    this.settings = settings
  }

  override _call(_inputIds: bigint[][], logits: Tensor): Tensor {
    const data = logits.data as Float32Array
    const vocabSize = logits.dims.at(-1) ?? data.length
    for (let start = 0; start < data.length; start += vocabSize) {
      const row = data.subarray(start, start + vocabSize)
      const chosen = sampleToken(row, this.settings)
      row.fill(Number.NEGATIVE_INFINITY)
      row[chosen] = 0
    }
    return logits
  }
}

/** Hands each generated token (batch of one) to `onToken`; the first `put` is the prompt. */
class TokenStreamer extends BaseStreamer {
  readonly onToken: (token: number) => void
  promptSeen = false

  constructor(onToken: (token: number) => void) {
    super()
    this.onToken = onToken
  }

  override put(value: bigint[][]): void {
    if (!this.promptSeen) {
      this.promptSeen = true
      return
    }
    this.onToken(Number(value[0][0]))
  }

  override end(): void {}
}

class StopWhen extends StoppingCriteria {
  readonly done: () => boolean

  constructor(done: () => boolean) {
    super()
    this.done = done
  }

  override _call(inputIds: number[][]): boolean[] {
    return inputIds.map(() => this.done())
  }
}

const int64Row = (values: readonly number[]): Tensor =>
  new Tensor(
    'int64',
    BigInt64Array.from(values, (value) => BigInt(value)),
    [1, values.length]
  )

/**
 * Runs `job` to its end, posting `started`, `text` pieces and `end` (or `failed`) through `send`. `onCancel`
 * receives the function that cancels it, for the worker's `cancel` message.
 */
export const runGeneration = async (options: {
  id: number
  loaded: LoadedModel
  job: GenerateJob
  send: (message: FromWorker) => void
  onCancel: (cancel: () => void) => void
}): Promise<void> => {
  const { id, loaded, job, send } = options
  const decoder = createIncrementalDecoder((ids) =>
    loaded.tokenizer.decode(ids, { skip_special_tokens: true })
  )
  const matcher = createStopSequenceMatcher(job.stop)
  let outputTokens = 0
  let reason: EndReason | null = null
  let stopSequence: string | null = null
  /** How many tokens there were when the cancel was read; `null`: not cancelled. */
  let cancelledAt: number | null = null
  options.onCancel(() => {
    cancelledAt ??= outputTokens
  })
  const emit = (text: string): void => {
    if (text !== '') send({ type: 'text', id, text })
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
  const onToken = (token: number): void => {
    outputTokens += 1
    if (loaded.endTokens.has(token)) {
      reason = 'end-token'
      return
    }
    const piece = decoder.push(token)
    if (piece !== '' && show(piece)) return
    if (outputTokens >= job.maxNewTokens) reason = 'length'
  }
  const { temperature, topK, topP, seed } = job.sampling
  const processors = new LogitsProcessorList()
  if (temperature > 0)
    processors.push(
      new SeededSampler({ temperature, topK, topP, random: createSeededRandom(seed) })
    )

  send({ type: 'started', id })
  try {
    await loaded.model.generate({
      input_ids: int64Row(job.inputIds),
      attention_mask: int64Row(job.inputIds.map(() => 1)),
      max_new_tokens: job.maxNewTokens,
      do_sample: false,
      logits_processor: processors,
      stopping_criteria: [new StopWhen(() => reason !== null || cancelledAt !== null)],
      // The typings ask for a TextStreamer (its `GenerationConfig` field); `generate` calls only `put` and `end`.
      streamer: new TokenStreamer(onToken) as unknown as TextStreamer,
    })
  } catch (error) {
    send({ type: 'failed', id, message: (error as Error).message })
    return
  }
  if (reason === null && cancelledAt !== null) {
    send({ type: 'end', id, reason: 'cancelled', stopSequence: null, outputTokens, cancelledAt })
    return
  }
  // What the decoder and the matcher still hold belongs to the answer, unless it completes a stop sequence.
  if (reason !== 'stop-sequence' && !show(decoder.flush())) emit(matcher.flush())
  send({ type: 'end', id, reason: reason ?? 'length', stopSequence, outputTokens })
}
