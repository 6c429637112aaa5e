/**
 * A logits processor that draws each row's next token with its request's own seeded generator (`sample-token.ts`) and
 * rules out every other token, so that a greedy pick takes the drawn one. Transformers.js 4.3 ignores `top_p` and
 * `top_k` (their warpers are unfinished), and its only generator is global, shared by every request in the thread.
 */
import { LogitsProcessor, type Tensor } from '@huggingface/transformers'
import { sampleToken, type SamplingSettings } from './sample-token.ts'

export class SeededSampler extends LogitsProcessor {
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
