/**
 * One generation on its own in a model worker, through Transformers.js's `generate` (which runs the KV cache, position
 * ids and the model's own logits processors, such as a `repetition_penalty` from its `generation_config.json`): how a
 * worker generates when batches are off (`maxBatch: 1`) or the model's cache is not the standard one
 * (`batchableCache`); otherwise `create-generation-batcher.ts` runs it beside others. What `generate` does not do the
 * way a gateway must is done in hooks it calls once per step: sampling with the request's seeded generator
 * (`seeded-sampler.ts`), text and stopping (`create-generation-output.ts`). `generate` awaits onnxruntime through a
 * `setImmediate` each step, so a cancel message is read between two steps and the next check stops it.
 */
import {
  BaseStreamer,
  LogitsProcessorList,
  StoppingCriteria,
  Tensor,
} from '@huggingface/transformers'
import type { TextStreamer } from '@huggingface/transformers'
import { createGenerationOutput } from './create-generation-output.ts'
import { createSeededRandom } from './create-seeded-random.ts'
import type { LoadedModel } from './loaded-model.ts'
import type { FromWorker, GenerateJob } from './local-worker-messages.ts'
import { SeededSampler } from './seeded-sampler.ts'

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
  /** `createGenerationOutput`'s. */
  intervalMs: number
}): Promise<void> => {
  const { id, loaded, job, send } = options
  const output = createGenerationOutput({ id, loaded, job, send, intervalMs: options.intervalMs })
  options.onCancel(() => output.cancel())
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
      stopping_criteria: [new StopWhen(() => output.over)],
      // The typings ask for a TextStreamer (its `GenerationConfig` field); `generate` calls only `put` and `end`.
      streamer: new TokenStreamer((token) => output.push(token)) as unknown as TextStreamer,
    })
  } catch (error) {
    output.fail((error as Error).message)
    return
  }
  output.finish()
}
