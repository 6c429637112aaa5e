/**
 * The generated graphs run in onnxruntime-node and compute what a GPT-2 with a KV cache must: a run split into a
 * prefix and cached steps gives the logits of the whole run, left padding changes nothing for the real tokens, and
 * the int8 graph mostly picks the same next tokens as the float one, batched or not.
 */
import type ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ones, openOnnxGraphs, runGpt2 } from './onnx-test-runs.ts'
import type { Gpt2Cache, OnnxGraphs } from './onnx-test-runs.ts'
import { argmax, largestDifference } from './vector-math.ts'
import { tinyModelShape, writeTinyModel } from './write-tiny-model.ts'

const { nLayer, nHead, nEmbd, vocabSize } = tinyModelShape
const headDim = nEmbd / nHead

let graphs: OnnxGraphs

beforeAll(async () => {
  graphs = await openOnnxGraphs('tiny-model-ort-', writeTinyModel)
})

afterAll(() => graphs?.close())

/** One forward pass of the tiny model (see `runGpt2`). */
const run = (
  target: ort.InferenceSession,
  ids: number[][],
  mask: number[][],
  past?: Gpt2Cache
): Promise<{ logits: Float32Array; cache: Gpt2Cache }> =>
  runGpt2(target, tinyModelShape, ids, mask, past)

/** The logits of position `index` of row `row`, from a [batch, sequence, vocab] array of `sequence` columns. */
const at = (logits: Float32Array, sequence: number, row: number, index: number): Float32Array =>
  logits.subarray((row * sequence + index) * vocabSize, (row * sequence + index + 1) * vocabSize)

// "The quick brown fox jumps" and a chat turn, as byte ids: any ids below vocabSize would do.
const sentence = [...new TextEncoder().encode('The quick brown fox jumps over')]
const chat = [318, ...new TextEncoder().encode('user\nHi there'), 319, 10]

describe('the tiny model in onnxruntime-node', () => {
  it('declares the inputs and outputs of the GPT-2 export, cache shapes with numeric heads', () => {
    const cacheNames = (prefix: string): string[] =>
      Array.from({ length: nLayer }, (_, layer) => [
        `${prefix}.${layer}.key`,
        `${prefix}.${layer}.value`,
      ]).flat()
    expect(graphs.float.inputNames).toEqual([
      'input_ids',
      'attention_mask',
      'position_ids',
      ...cacheNames('past_key_values'),
    ])
    expect(graphs.float.outputNames).toEqual(['logits', ...cacheNames('present')])
    expect(graphs.int8.inputNames).toEqual(graphs.float.inputNames)
    expect(graphs.int8.outputNames).toEqual(graphs.float.outputNames)
    const pastKey = graphs.float.inputMetadata.find(
      (input) => input.name === 'past_key_values.0.key'
    )
    expect(pastKey).toMatchObject({
      isTensor: true,
      type: 'float32',
      shape: ['batch_size', nHead, 'past_sequence_length', headDim],
    })
  })

  it('gives the logits of a full run when split into a prefix and cached steps, causally', async () => {
    const full = await run(graphs.float, [sentence], [ones(sentence.length)])
    const split = 20
    const prefix = await run(graphs.float, [sentence.slice(0, split)], [ones(split)])
    // Causal: the first `split` positions cannot see the rest.
    for (let index = 0; index < split; index += 1) {
      expect(
        largestDifference(
          at(prefix.logits, split, 0, index),
          at(full.logits, sentence.length, 0, index)
        )
      ).toBeLessThan(1e-4)
    }
    // Three tokens at once on top of the cache, then one.
    const middle = await run(
      graphs.float,
      [sentence.slice(split, split + 3)],
      [ones(split + 3)],
      prefix.cache
    )
    expect(middle.cache['past_key_values.1.value'].dims).toEqual([1, nHead, split + 3, headDim])
    for (let index = 0; index < 3; index += 1) {
      expect(
        largestDifference(
          at(middle.logits, 3, 0, index),
          at(full.logits, sentence.length, 0, split + index)
        )
      ).toBeLessThan(1e-4)
    }
    const last = await run(
      graphs.float,
      [sentence.slice(split + 3, split + 4)],
      [ones(split + 4)],
      middle.cache
    )
    expect(
      largestDifference(at(last.logits, 1, 0, 0), at(full.logits, sentence.length, 0, split + 3))
    ).toBeLessThan(1e-4)
  })

  it('depends on the context, so the equalities above are not vacuous', async () => {
    const changed = [...sentence]
    changed[0] = 't'.charCodeAt(0)
    const a = await run(graphs.float, [sentence], [ones(sentence.length)])
    const b = await run(graphs.float, [changed], [ones(changed.length)])
    const lastIndex = sentence.length - 1
    expect(
      largestDifference(
        at(a.logits, sentence.length, 0, lastIndex),
        at(b.logits, sentence.length, 0, lastIndex)
      )
    ).toBeGreaterThan(0.05)
  })

  it('gives a left-padded row of a batch the logits of the row alone, before and after a cached step', async () => {
    const width = chat.length
    const short = sentence.slice(0, 9)
    const padding = width - short.length
    const paddedIds = (pad: number): number[][] => [
      [...Array.from({ length: padding }, () => pad), ...short],
      chat,
    ]
    const mask = [[...Array.from({ length: padding }, () => 0), ...ones(short.length)], ones(width)]
    const batch = await run(graphs.float, paddedIds(317), mask)
    const otherPadding = await run(graphs.float, paddedIds(65), mask)
    const shortAlone = await run(graphs.float, [short], [ones(short.length)])
    const chatAlone = await run(graphs.float, [chat], [ones(width)])

    for (let index = 0; index < short.length; index += 1) {
      const inBatch = at(batch.logits, width, 0, padding + index)
      expect(
        largestDifference(inBatch, at(shortAlone.logits, short.length, 0, index))
      ).toBeLessThan(1e-4)
      // What the padding holds does not matter either.
      expect(
        largestDifference(inBatch, at(otherPadding.logits, width, 0, padding + index))
      ).toBeLessThan(1e-4)
    }
    expect(
      largestDifference(
        at(batch.logits, width, 0, width - 1),
        at(shortAlone.logits, short.length, 0, short.length - 1)
      )
    ).toBeLessThan(1e-4)
    expect(
      largestDifference(
        at(batch.logits, width, 1, width - 1),
        at(chatAlone.logits, width, 0, width - 1)
      )
    ).toBeLessThan(1e-4)

    // One generation step for both rows on top of the batch's cache, the mask grown by one column.
    const next = [[101], [104]]
    const stepMask = mask.map((row) => [...row, 1])
    const batchStep = await run(graphs.float, next, stepMask, batch.cache)
    const shortStep = await run(graphs.float, [next[0]], [ones(short.length + 1)], shortAlone.cache)
    const chatStep = await run(graphs.float, [next[1]], [ones(width + 1)], chatAlone.cache)
    expect(
      largestDifference(at(batchStep.logits, 1, 0, 0), at(shortStep.logits, 1, 0, 0))
    ).toBeLessThan(1e-4)
    expect(
      largestDifference(at(batchStep.logits, 1, 1, 0), at(chatStep.logits, 1, 0, 0))
    ).toBeLessThan(1e-4)
  })

  it('runs the int8 graph, whose next-token choices mostly agree with float32', async () => {
    const text = [
      ...new TextEncoder().encode(
        'Gatehouse answers from a local model when every provider is out of reach, or when it is faster.'
      ),
    ]
    const float = await run(graphs.float, [text], [ones(text.length)])
    const int8 = await run(graphs.int8, [text], [ones(text.length)])
    let agree = 0
    for (let index = 0; index < text.length; index += 1) {
      const choice = argmax(at(float.logits, text.length, 0, index))
      if (choice === argmax(at(int8.logits, text.length, 0, index))) agree += 1
    }
    expect(agree / text.length).toBeGreaterThan(0.9)
    expect(largestDifference(float.logits, int8.logits)).toBeGreaterThan(0)

    // Its cache works the same way, and a row of a left-padded batch gets its logits as if alone: only the weights
    // are quantized, so no activation scale is shared by the rows of a batch.
    const split = 40
    const prefix = await run(graphs.int8, [text.slice(0, split)], [ones(split)])
    const step = await run(
      graphs.int8,
      [text.slice(split, split + 1)],
      [ones(split + 1)],
      prefix.cache
    )
    const whole = await run(graphs.int8, [text.slice(0, split + 1)], [ones(split + 1)])
    expect(
      largestDifference(at(step.logits, 1, 0, 0), at(whole.logits, split + 1, 0, split))
    ).toBeLessThan(1e-3)
    const short = text.slice(0, 12)
    const padding = split - short.length
    const batch = await run(
      graphs.int8,
      [[...Array.from({ length: padding }, () => 317), ...short], text.slice(0, split)],
      [[...Array.from({ length: padding }, () => 0), ...ones(short.length)], ones(split)]
    )
    const alone = await run(graphs.int8, [short], [ones(short.length)])
    expect(
      largestDifference(
        at(batch.logits, split, 0, split - 1),
        at(alone.logits, short.length, 0, short.length - 1)
      )
    ).toBeLessThan(1e-3)
  })
})
