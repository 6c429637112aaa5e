import type { TinyVocabulary } from './tiny-vocabulary.ts'

/**
 * ChatML, as Qwen2.5 and SmolLM2 ship it (without their default system prompt or tool calls): each message is
 * `<|im_start|>role\ncontent<|im_end|>\n`, and the generation prompt opens the assistant's turn.
 */
export const chatMlTemplate =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + " +
  "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"

/**
 * `tokenizer.json` in the format of Hugging Face `tokenizers` (what Transformers.js and Python's fast tokenizers
 * load): GPT-2's byte-level pre-tokenizer (its regex split, then bytes as characters), BPE over the vocabulary and
 * merges, the ByteLevel decoder back to bytes, and the specials as added tokens (never split, never merged).
 */
export const createTokenizerJson = (vocabulary: TinyVocabulary): object => {
  const specialIds = new Set(Object.values(vocabulary.specialIds))
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: vocabulary.tokens
      .map((content, id) => ({ id, content }))
      .filter(({ id }) => specialIds.has(id))
      .map(({ id, content }) => ({
        id,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', ...byteLevel, trim_offsets: false },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(
        vocabulary.tokens.flatMap((token, id) => (specialIds.has(id) ? [] : [[token, id]]))
      ),
      merges: vocabulary.merges,
    },
  }
}

/**
 * `tokenizer_config.json`: the chat template and the named special tokens, as Qwen2.5-Instruct sets them
 * (`<|endoftext|>` begins a document and pads, `<|im_end|>` ends the assistant's turn). No `padding_side`: like the
 * real models, batched generation must ask for left padding itself. `chatTemplate: null` leaves the template out, as
 * embedding models ship without one.
 */
export const createTokenizerConfig = (
  vocabulary: TinyVocabulary,
  maxLength: number,
  { chatTemplate = chatMlTemplate }: { chatTemplate?: string | null } = {}
): object => ({
  add_bos_token: false,
  add_prefix_space: false,
  added_tokens_decoder: Object.fromEntries(
    Object.entries(vocabulary.specialIds).map(([content, id]) => [
      String(id),
      {
        content,
        lstrip: false,
        normalized: false,
        rstrip: false,
        single_word: false,
        special: true,
      },
    ])
  ),
  additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
  bos_token: '<|endoftext|>',
  ...(chatTemplate === null ? {} : { chat_template: chatTemplate }),
  clean_up_tokenization_spaces: false,
  eos_token: '<|im_end|>',
  errors: 'replace',
  model_max_length: maxLength,
  pad_token: '<|endoftext|>',
  split_special_tokens: false,
  tokenizer_class: 'GPT2Tokenizer',
  unk_token: null,
})
