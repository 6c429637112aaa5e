/**
 * The local provider with the real tiny model in real worker threads (onnxruntime-node through Transformers.js, no
 * mock of either): its greedy answers are what Transformers.js generates directly, streamed and not; seeds, stop
 * sequences, `max_tokens`, usage, the context window, cancellation and a queue on one worker.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers'
import type { PreTrainedModel, PreTrainedTokenizer, Tensor } from '@huggingface/transformers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import type { ChatChunk, ChatRequest, ChatResult } from '../spec/chat-types.ts'
import type { CallContext, ProviderAdapter } from '../spec/provider-adapter.ts'
import { ProviderError } from '../spec/provider-error.ts'
import { createLocalAdapter } from './local-adapter.ts'

let root: string
let adapter: ProviderAdapter
let tokenizer: PreTrainedTokenizer
let reference: PreTrainedModel

/** Greedy, this prompt runs past 450 tokens without an end token. */
const longPrompt = 'Tell me about the local model.'

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'local-adapter-'))
  const folder = join(root, 'models', tinyModelName, '1')
  await writeTinyModel(folder)
  // The same model with its chat template in chat_template.jinja, as newer exports have it, saying more.
  const jinja = join(root, 'models', 'jinja-tiny')
  await writeTinyModel(jinja)
  const config = JSON.parse(await readFile(join(jinja, 'tokenizer_config.json'), 'utf8'))
  await writeFile(
    join(jinja, 'chat_template.jinja'),
    `{{- '<|im_start|>system\nFrom the file.<|im_end|>\n' }}${config.chat_template}`
  )
  delete config.chat_template
  await writeFile(join(jinja, 'tokenizer_config.json'), JSON.stringify(config))
  adapter = createLocalAdapter({
    id: 'local',
    directory: join(root, 'models'),
    models: null,
    workers: 1,
    intraOpNumThreads: 1,
    // One generation at a time, one text piece per token: the cancel test queues a call behind another and reads
    // the first one's pieces as steps (batching has its own tests, against this path, in local-worker-pool.test.ts).
    maxBatch: 1,
    streamIntervalMs: 0,
    dtype: 'fp32',
  })
  env.allowRemoteModels = false
  ;[, tokenizer, reference] = await Promise.all([
    adapter.start!(),
    AutoTokenizer.from_pretrained(folder),
    AutoModelForCausalLM.from_pretrained(folder, { dtype: 'fp32' }),
  ])
})

afterAll(async () => {
  await adapter?.close?.()
  await reference?.dispose()
  await rm(root, { recursive: true, force: true })
})

const call = (signal: AbortSignal = new AbortController().signal): CallContext => ({
  signal,
  requestId: 'test',
})

const ask = (text: string, settings: Partial<ChatRequest> = {}): ChatRequest => ({
  model: tinyModelName,
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text }] },
  ],
  stream: false,
  ...settings,
})

const textOf = (result: ChatResult): string =>
  result.choices[0].content.map((part) => (part.type === 'text' ? part.text : '')).join('')

const readAll = async (stream: ReadableStream<ChatChunk>): Promise<ChatChunk[]> => {
  const chunks: ChatChunk[] = []
  for await (const chunk of stream as unknown as AsyncIterable<ChatChunk>) chunks.push(chunk)
  return chunks
}

const streamedText = (chunks: ChatChunk[]): string =>
  chunks.map((chunk) => (chunk.type === 'text-delta' ? chunk.delta : '')).join('')

const failureOf = async (promise: Promise<unknown>): Promise<ProviderError> => {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught
  )
  expect(error).toBeInstanceOf(ProviderError)
  return error as ProviderError
}

/** What Transformers.js itself generates greedily from the same chat: token ids, end token included. */
const referenceGreedy = async (request: ChatRequest, maxNewTokens: number): Promise<number[]> => {
  const messages = request.messages.map((message) => ({
    role: message.role,
    content:
      typeof message.content === 'string'
        ? message.content
        : message.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n'),
  }))
  const inputs = tokenizer.apply_chat_template(messages, {
    add_generation_prompt: true,
    return_dict: true,
  }) as { input_ids: Tensor; attention_mask: Tensor }
  const output = (await reference.generate({
    ...inputs,
    max_new_tokens: maxNewTokens,
    do_sample: false,
  })) as Tensor
  const row = (output.tolist() as bigint[][])[0].map(Number)
  return row.slice(inputs.input_ids.dims[1])
}

describe('the local adapter, on the tiny model in a worker thread', () => {
  it('answers greedily what Transformers.js generates, with exact usage and the end token counted', async () => {
    // Without a system message, the weights end this answer with <|im_end|> after some 300 tokens.
    const request: ChatRequest = {
      ...ask('', { temperature: 0 }),
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello, who are you?' }] }],
    }
    const promptTokens = (
      tokenizer.apply_chat_template([{ role: 'user', content: 'Hello, who are you?' }], {
        add_generation_prompt: true,
        return_tensor: false,
        return_dict: false,
      }) as number[]
    ).length
    const expected = await referenceGreedy(request, 512 - promptTokens)
    const result = await adapter.chat(request, call())
    expect([319, 317]).toContain(expected.at(-1))
    expect(expected.length).toBeGreaterThan(100)
    expect(textOf(result)).toBe(tokenizer.decode(expected, { skip_special_tokens: true }))
    expect(result.choices[0].finishReason).toEqual({ unified: 'stop', raw: 'stop' })
    expect(result.usage).toEqual({
      inputTokens: promptTokens,
      outputTokens: expected.length,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 0,
      reasoningTokens: 0,
    })
    expect(result.model).toBe(tinyModelName)
  })

  it('streams the same text as it answers, greedy or seeded, with usage at the start and at the end', async () => {
    for (const settings of [
      { temperature: 0 },
      { temperature: 0.9, seed: 42, topP: 0.9, topK: 40 },
    ]) {
      const request = ask('Write a poem about the sea.', { ...settings, maxTokens: 120 })
      const answered = await adapter.chat(request, call())
      const chunks = await readAll(await adapter.streamChat({ ...request, stream: true }, call()))
      expect(chunks[0]).toMatchObject({
        type: 'start',
        model: tinyModelName,
        usage: { inputTokens: answered.usage.inputTokens, outputTokens: null },
      })
      // Pieces that reach the main thread in the same turn of its event loop share a chunk; the others do not.
      expect(chunks.filter((chunk) => chunk.type === 'text-delta').length).toBeGreaterThan(3)
      expect(streamedText(chunks)).toBe(textOf(answered))
      expect(chunks.at(-2)).toEqual({
        type: 'finish',
        choiceIndex: 0,
        finishReason: answered.choices[0].finishReason,
      })
      expect(chunks.at(-1)).toEqual({ type: 'usage', usage: answered.usage })
    }
  })

  it('gives the same text for the same seed, and another for another seed', async () => {
    const sample = async (seed: number): Promise<string> =>
      textOf(
        await adapter.chat(ask('Tell me a story.', { temperature: 1, seed, maxTokens: 60 }), call())
      )
    const first = await sample(7)
    expect(first.length).toBeGreaterThan(0)
    expect(await sample(7)).toBe(first)
    const others = await Promise.all([8, 9, 10].map(sample))
    expect(others.some((text) => text !== first)).toBe(true)
    // Seeds beyond 32 bits count in full.
    expect(await sample(2 ** 40 + 7)).not.toBe(first)
  })

  it('stops at max_tokens with finish reason length, having generated exactly that many tokens', async () => {
    const result = await adapter.chat(ask(longPrompt, { temperature: 0, maxTokens: 17 }), call())
    expect(result.choices[0].finishReason).toEqual({ unified: 'length', raw: 'length' })
    expect(result.usage.outputTokens).toBe(17)
    const expected = await referenceGreedy(ask(longPrompt), 17)
    expect(textOf(result)).toBe(tokenizer.decode(expected, { skip_special_tokens: true }))
  })

  it('cuts the answer before the first stop sequence, streamed or not, showing none of it', async () => {
    const full = textOf(
      await adapter.chat(ask(longPrompt, { temperature: 0, maxTokens: 200 }), call())
    )
    // A stop sequence from the middle of the greedy answer, and one that never appears.
    const stop = full.slice(60, 66)
    const expected = full.slice(0, full.indexOf(stop))
    const request = ask(longPrompt, {
      temperature: 0,
      maxTokens: 200,
      stop: ['never appears', stop],
    })
    const result = await adapter.chat(request, call())
    expect(textOf(result)).toBe(expected)
    expect(result.choices[0].finishReason).toEqual({
      unified: 'stop',
      raw: 'stop_sequence',
      stopSequence: stop,
    })
    expect(result.usage.outputTokens).toBeLessThan(200)
    const chunks = await readAll(await adapter.streamChat({ ...request, stream: true }, call()))
    expect(streamedText(chunks)).toBe(expected)
    expect(chunks.at(-2)).toMatchObject({ finishReason: { stopSequence: stop } })
  })

  it('refuses a request beyond the context window before generating, naming the limit', async () => {
    const tooMuch = await failureOf(adapter.chat(ask('hi', { maxTokens: 500 }), call()))
    expect(tooMuch).toMatchObject({
      status: 400,
      code: 'context_length_exceeded',
      param: 'messages',
    })
    expect(tooMuch.message).toMatch(/context window of `local\/gatehouse-tiny` is 512 tokens/)
    expect(tooMuch.message).toMatch(/500 in max_tokens/)
    const longMessage = 'the local model '.repeat(300)
    const noRoom = await failureOf(adapter.streamChat(ask(longMessage, { stream: true }), call()))
    expect(noRoom).toMatchObject({ status: 400, code: 'context_length_exceeded' })
    expect(noRoom.message).toMatch(/leaving no room for an answer/)
    // Exactly at the limit is allowed, and runs to it.
    const prompt = (await adapter.chat(ask(longPrompt, { temperature: 0, maxTokens: 1 }), call()))
      .usage.inputTokens!
    const atLimit = await adapter.chat(
      ask(longPrompt, { temperature: 0, maxTokens: 512 - prompt }),
      call()
    )
    expect(atLimit.usage.outputTokens).toBe(512 - prompt)
  })

  it('refuses what the model cannot honour with a 400 naming the field', async () => {
    const cases: [Partial<ChatRequest>, string][] = [
      [{ tools: [{ name: 'get_time', parameters: { type: 'object' } }] }, 'tools'],
      [{ toolChoice: { type: 'required' } }, 'tool_choice'],
      [{ responseFormat: { type: 'json_object' } }, 'response_format'],
      [{ temperature: 2.5 }, 'temperature'],
      [{ topP: 0 }, 'top_p'],
      [{ topK: 1.5 }, 'top_k'],
      [{ maxTokens: 0 }, 'max_tokens'],
      [{ seed: 1.5 }, 'seed'],
      [{ stop: [''] }, 'stop'],
      [
        {
          messages: [
            {
              role: 'user',
              content: [{ type: 'image', source: { type: 'url', url: 'https://x.test/a.png' } }],
            },
          ],
        },
        'messages.0.content',
      ],
    ]
    for (const [settings, param] of cases) {
      const error = await failureOf(adapter.chat(ask('hi', settings), call()))
      expect({ status: error.status, param: error.param, retryable: error.retryable }).toEqual({
        status: 400,
        param,
        retryable: false,
      })
    }
    const unknown = await failureOf(adapter.chat(ask('hi', { model: 'nope' }), call()))
    expect(unknown).toMatchObject({ status: 404, code: 'model_not_found' })
    expect(unknown.message).toContain('gatehouse-tiny')
  })

  it('lists its models', async () => {
    expect(await adapter.listModels!(call())).toEqual([
      { id: tinyModelName, created: expect.any(Number), displayName: 'gatehouse-tiny (version 1)' },
      { id: 'jinja-tiny', created: expect.any(Number), displayName: 'jinja-tiny' },
    ])
  })

  it('renders a chat template kept in chat_template.jinja', async () => {
    const request = ask('hi', { temperature: 0, maxTokens: 1 })
    const plain = await adapter.chat(request, call())
    const fromFile = await adapter.chat({ ...request, model: 'jinja-tiny' }, call())
    const added = tokenizer.encode('<|im_start|>system\nFrom the file.<|im_end|>\n', {
      add_special_tokens: false,
    }).length
    expect(fromFile.usage.inputTokens).toBe(plain.usage.inputTokens! + added)
  })

  it('queues concurrent requests on one worker, and each answers what it would alone', async () => {
    const seeds = [1, 2, 3, 4, 5]
    const request = (seed: number): ChatRequest =>
      ask('Tell me a story.', { temperature: 1, seed, maxTokens: 80 })
    const alone: string[] = []
    for (const seed of seeds) alone.push(textOf(await adapter.chat(request(seed), call())))
    const together = await Promise.all(
      seeds.map(async (seed, index) =>
        index % 2 === 0
          ? textOf(await adapter.chat(request(seed), call()))
          : streamedText(
              await readAll(await adapter.streamChat({ ...request(seed), stream: true }, call()))
            )
      )
    )
    expect(together).toEqual(alone)
  })

  it('stops a generation within a step of the client leaving, and frees the worker for the next', async () => {
    const controller = new AbortController()
    const first = await adapter.streamChat(
      ask(longPrompt, { temperature: 0, maxTokens: 450, stream: true }),
      call(controller.signal)
    )
    // Queued behind it on the one worker.
    const second = adapter.streamChat(ask('hi', { temperature: 0, stream: true }), call())
    const reader = first.getReader()
    const gaps: number[] = []
    let last = performance.now()
    for (let count = 0; count < 40; count += 1) {
      const { done } = await reader.read()
      expect(done).toBe(false)
      const now = performance.now()
      gaps.push(now - last)
      last = now
    }
    const abortedAt = performance.now()
    controller.abort()
    const failure = await reader.read().then(
      () => null,
      (error: unknown) => error
    )
    expect(failure).toMatchObject({ kind: 'aborted', status: 499 })
    const secondReader = (await second).getReader()
    const started = await secondReader.read()
    const freedAfterMs = performance.now() - abortedAt
    expect(started.value).toMatchObject({ type: 'start' })
    const step = gaps.slice(5).sort((a, b) => a - b)[Math.floor((gaps.length - 5) / 2)]
    console.info(
      `cancel: worker free ${freedAfterMs.toFixed(2)} ms after the abort (median step ${step.toFixed(2)} ms)`
    )
    // The 400 tokens the first still had to go would take 100 steps and more; a few steps is the bound here, with
    // room for a busy machine's scheduling.
    expect(freedAfterMs).toBeLessThan(Math.max(10 * step, 25))
    while (!(await secondReader.read()).done);
  })
})
