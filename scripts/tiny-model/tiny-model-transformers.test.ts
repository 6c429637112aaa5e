/**
 * The generated folder is a model Transformers.js 4.3 loads offline like any Hugging Face ONNX export: tokenizer,
 * chat template, float32 and int8 sessions, greedy and seeded sampling, streaming, left-padded batches and
 * interruption. Greedy generation is checked token for token against a KV-cache loop of our own over
 * onnxruntime-node, so Transformers.js is shown to feed the graph what it expects.
 */
import { join } from 'node:path'
import {
  AutoModelForCausalLM,
  AutoTokenizer,
  InterruptableStoppingCriteria,
  TextStreamer,
  random,
} from '@huggingface/transformers'
import type { PreTrainedModel, PreTrainedTokenizer, Tensor } from '@huggingface/transformers'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ones, runGpt2 } from './onnx-test-runs.ts'
import type { Gpt2Cache } from './onnx-test-runs.ts'
import { openOfflineModel } from './open-offline-model.ts'
import type { OfflineModel } from './open-offline-model.ts'
import { SeededRandom } from './seeded-random.ts'
import { argmax } from './vector-math.ts'
import {
  tinyModelName,
  tinyModelShape,
  tinyModelVersion,
  writeTinyModel,
} from './write-tiny-model.ts'

const endOfText = 317
const imStart = 318
const imEnd = 319
const eos = [imEnd, endOfText]

let offline: OfflineModel
let tokenizer: PreTrainedTokenizer
let model: PreTrainedModel
let quantizedModel: PreTrainedModel
let session: ort.InferenceSession

beforeAll(async () => {
  // Any download attempt fails the suite.
  offline = await openOfflineModel(
    'tiny-model-tjs-',
    tinyModelName,
    tinyModelVersion,
    writeTinyModel
  )
  const { folder, id } = offline
  // By id under env.localModelPath, and by absolute path: the two ways a folder is named.
  tokenizer = await AutoTokenizer.from_pretrained(id)
  model = await AutoModelForCausalLM.from_pretrained(folder, { dtype: 'fp32' })
  quantizedModel = await AutoModelForCausalLM.from_pretrained(id, { dtype: 'q8' })
  session = await ort.InferenceSession.create(join(folder, 'onnx/model.onnx'))
})

afterAll(async () => {
  await model?.dispose()
  await quantizedModel?.dispose()
  await session?.release()
  await offline?.close()
})

const chatPrompt = (content: string): string =>
  tokenizer.apply_chat_template([{ role: 'user', content }], {
    tokenize: false,
    add_generation_prompt: true,
  }) as string

const idsOf = (tensor: Tensor): number[][] =>
  (tensor.tolist() as bigint[][]).map((row) => row.map(Number))

/** Runs `generate` and returns the new token ids of each row. */
const generate = async (
  target: PreTrainedModel,
  prompts: string[],
  options: Record<string, unknown>
): Promise<number[][]> => {
  const inputs = tokenizer(prompts, { padding: true })
  const output = (await target.generate({ ...inputs, ...options })) as Tensor
  const promptLength = (inputs.input_ids as Tensor).dims[1]
  return idsOf(output).map((row) => row.slice(promptLength))
}

/**
 * Greedy decoding with a KV cache, written against onnxruntime directly: each step feeds the new tokens, the cache
 * and a mask over every token so far.
 */
const greedyWithOnnxruntime = async (prompt: number[], maxNewTokens: number): Promise<number[]> => {
  const generated: number[] = []
  let input = prompt
  let cache: Gpt2Cache | undefined
  while (generated.length < maxNewTokens) {
    const mask = [ones(prompt.length + generated.length)]
    const step = await runGpt2(session, tinyModelShape, [input], mask, cache)
    const next = argmax(step.logits.subarray(-tinyModelShape.vocabSize))
    generated.push(next)
    if (eos.includes(next)) break
    input = [next]
    cache = step.cache
  }
  return generated
}

/** The tokens up to and including the first end-of-sequence token. */
const untilEos = (ids: number[]): number[] => {
  const end = ids.findIndex((id) => eos.includes(id))
  return end === -1 ? ids : ids.slice(0, end + 1)
}

describe('the tiny model in Transformers.js, offline', () => {
  it('tokenizes any UTF-8 text and decodes it back byte for byte', () => {
    const random32 = new SeededRandom(3)
    const randomText = String.fromCodePoint(
      ...Array.from({ length: 200 }, () => {
        const codePoint = random32.integer(0x10ffff)
        return codePoint >= 0xd800 && codePoint <= 0xdfff ? 0x20ac : codePoint
      })
    )
    const texts = [
      'The quick brown fox, and the lazy dog.',
      'Emoji: 👋🏽 👨‍👩‍👧 🇫🇷 ✅',
      '中文：你好，世界。日本語のテキスト、한국어 텍스트',
      'tabs\tand\nnewlines\r\n  and   spaces  ',
      'controls \u0000\u0001\u007f and <|not_special|>',
      randomText,
    ]
    for (const text of texts) {
      const ids = tokenizer.encode(text, { add_special_tokens: false })
      expect(ids.every((id) => id < endOfText)).toBe(true)
      expect(tokenizer.decode(ids)).toBe(text)
    }
    // The merges apply, and the specials are single tokens that ordinary text never produces.
    expect(tokenizer.encode(' the', { add_special_tokens: false })).toHaveLength(1)
    expect(tokenizer.encode('a<|im_end|>b', { add_special_tokens: false })).toEqual([97, imEnd, 98])
    expect(tokenizer.decode([97, imEnd, 98], { skip_special_tokens: true })).toBe('ab')
  })

  it('renders ChatML from the chat template', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi 👋' },
    ]
    expect(
      tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true })
    ).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi 👋<|im_end|>\n<|im_start|>assistant\n'
    )
    const ids = tokenizer.apply_chat_template(messages, {
      add_generation_prompt: true,
      return_tensor: false,
      return_dict: false,
    }) as number[]
    expect(ids[0]).toBe(imStart)
    expect(ids.filter((id) => id === imEnd)).toHaveLength(2)
    expect(tokenizer.eos_token_id).toBe(imEnd)
    expect(tokenizer.pad_token_id).toBe(endOfText)
  })

  it('generates greedily what a KV-cache loop over onnxruntime generates, and stops at <|im_end|>', async () => {
    let stopped = 0
    for (const content of ['Hello, who are you?', 'Write a poem about the sea.', 'hi']) {
      const prompt = chatPrompt(content)
      const [generated] = await generate(model, [prompt], { max_new_tokens: 40, do_sample: false })
      const expected = await greedyWithOnnxruntime(tokenizer.encode(prompt), 40)
      expect(generated).toEqual(expected)
      if (generated.at(-1) === imEnd) stopped += 1
    }
    // The weights end some answers before the limit, and let others run to it.
    expect(stopped).toBeGreaterThan(0)
    expect(stopped).toBeLessThan(3)
  })

  it('loads the int8 model with dtype q8, which mostly predicts what float32 does', async () => {
    const inputs = tokenizer(chatPrompt('Tell me about the local model.'))
    const float = (await model(inputs)).logits as Tensor
    const int8 = (await quantizedModel(inputs)).logits as Tensor
    expect(int8.dims).toEqual(float.dims)
    const [, length, vocabSize] = float.dims
    const floatData = float.data as Float32Array
    const int8Data = int8.data as Float32Array
    let agree = 0
    let differs = false
    for (let position = 0; position < length; position += 1) {
      const row = (data: Float32Array): Float32Array =>
        data.subarray(position * vocabSize, (position + 1) * vocabSize)
      if (argmax(row(floatData)) === argmax(row(int8Data))) agree += 1
      if (row(floatData).some((value, index) => value !== row(int8Data)[index])) differs = true
    }
    expect(differs).toBe(true)
    expect(agree / length).toBeGreaterThan(0.85)
    const [generated] = await generate(quantizedModel, [chatPrompt('hi')], {
      max_new_tokens: 20,
      do_sample: false,
    })
    expect(generated.length).toBeGreaterThan(0)
  })

  it('samples the same text for the same seed, and other text for another', async () => {
    const sample = async (seed: number): Promise<number[]> => {
      random.seed(seed)
      const [generated] = await generate(model, [chatPrompt('Tell me a story.')], {
        max_new_tokens: 30,
        do_sample: true,
        temperature: 0.9,
        top_k: 0,
      })
      return generated
    }
    const first = await sample(7)
    expect(await sample(7)).toEqual(first)
    expect(await sample(8)).not.toEqual(first)
    expect(first.length).toBeGreaterThan(0)
  })

  it('streams the generated text through a TextStreamer, piece by piece', async () => {
    const pieces: string[] = []
    const tokens: bigint[] = []
    const streamer = new TextStreamer(tokenizer, {
      skip_prompt: true,
      skip_special_tokens: true,
      callback_function: (text: string) => pieces.push(text),
      token_callback_function: (ids: bigint[]) => tokens.push(...ids),
    })
    const [generated] = await generate(model, [chatPrompt('Write a poem about the sea.')], {
      max_new_tokens: 40,
      do_sample: false,
      streamer,
    })
    expect(tokens.map(Number)).toEqual(generated)
    expect(pieces.length).toBeGreaterThan(1)
    expect(pieces.join('')).toBe(tokenizer.decode(generated, { skip_special_tokens: true }))
  })

  it('generates a left-padded batch row for row as each prompt alone', async () => {
    const prompts = [
      chatPrompt('hi'),
      chatPrompt('Summarize the following text: the quick brown fox.'),
    ]
    const alone = await Promise.all(
      prompts.map(
        async (prompt) =>
          (await generate(model, [prompt], { max_new_tokens: 16, do_sample: false }))[0]
      )
    )
    tokenizer.padding_side = 'left'
    try {
      const batch = await generate(model, prompts, { max_new_tokens: 16, do_sample: false })
      // A finished row keeps receiving tokens until every row is done: only its tokens up to its end count.
      expect(batch.map(untilEos)).toEqual(alone.map(untilEos))
    } finally {
      tokenizer.padding_side = 'right'
    }
  })

  it('stops within one step when interrupted, as a client disconnect would', async () => {
    const criteria = new InterruptableStoppingCriteria()
    let count = 0
    const streamer = new TextStreamer(tokenizer, {
      skip_prompt: true,
      callback_function: () => {},
      token_callback_function: () => {
        count += 1
        if (count === 5) criteria.interrupt()
      },
    })
    const [generated] = await generate(model, [chatPrompt('Write a poem about the sea.')], {
      max_new_tokens: 40,
      do_sample: false,
      streamer,
      stopping_criteria: [criteria],
    })
    expect(generated).toHaveLength(5)
  })
})
