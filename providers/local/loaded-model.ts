/** A chat model as a model worker holds it: its tokenizer, its session (through Transformers.js) and its end tokens. */
import type { PreTrainedModel, PreTrainedTokenizer } from '@huggingface/transformers'

export type LoadedModel = {
  tokenizer: PreTrainedTokenizer
  model: PreTrainedModel
  /** The tokens that end a sequence (`eos_token_id` of the generation config, else of the model config). */
  endTokens: ReadonlySet<number>
}
