/**
 * The generated graphs in onnxruntime-node, for the tests that check what they compute: opening a model's two
 * graphs, its int64 inputs, and one forward pass of the causal LM with its KV cache.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ort from 'onnxruntime-node'
import type { Gpt2Shape } from './gpt2-weights.ts'

/** A generated model's two graphs, open in onnxruntime-node. */
export interface OnnxGraphs {
  /** `onnx/model.onnx`, float32 weights. */
  float: ort.InferenceSession
  /** `onnx/model_quantized.onnx`, int8 weights. */
  int8: ort.InferenceSession
  /** Releases both sessions and removes the model's folder. */
  close: () => Promise<void>
}

/**
 * Writes a model with `write` into a new temporary folder (its name starting with `prefix`) and opens its float32
 * and int8 graphs. If that fails, what it opened is closed again.
 */
export const openOnnxGraphs = async (
  prefix: string,
  write: (directory: string) => Promise<unknown>
): Promise<OnnxGraphs> => {
  const directory = await mkdtemp(join(tmpdir(), prefix))
  const opened: ort.InferenceSession[] = []
  const close = async (): Promise<void> => {
    for (const session of opened) await session.release()
    await rm(directory, { recursive: true, force: true })
  }
  try {
    await write(directory)
    for (const file of ['onnx/model.onnx', 'onnx/model_quantized.onnx']) {
      opened.push(await ort.InferenceSession.create(join(directory, file)))
    }
  } catch (error) {
    await close()
    throw error
  }
  const [float, int8] = opened
  return { float, int8, close }
}

/** `rows` as an int64 tensor [rows, columns]. */
export const int64 = (rows: readonly (readonly number[])[]): ort.Tensor =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [
    rows.length,
    rows[0].length,
  ])

/** A mask row that attends to all of `length` positions. */
export const ones = (length: number): number[] => Array.from({ length }, () => 1)

/** A causal LM's KV cache between forward passes: `past_key_values.<layer>.key|value`. */
export type Gpt2Cache = Record<string, ort.Tensor>

const emptyCache = (shape: Gpt2Shape, batch: number): Gpt2Cache =>
  Object.fromEntries(
    Array.from({ length: shape.nLayer }, (_, layer) =>
      ['key', 'value'].map((kind) => [
        `past_key_values.${layer}.${kind}`,
        new ort.Tensor('float32', new Float32Array(0), [
          batch,
          shape.nHead,
          0,
          shape.nEmbd / shape.nHead,
        ]),
      ])
    ).flat()
  )

/**
 * One forward pass of a causal LM graph of `shape` (`buildGpt2Graph`) on top of `past` (none by default): the logits
 * [batch, sequence, vocab] and the cache for the next pass. Position ids are computed as Transformers.js computes
 * them: the running count of attended tokens less one (1 for padding), the last `ids` columns of it.
 */
export const runGpt2 = async (
  target: ort.InferenceSession,
  shape: Gpt2Shape,
  ids: number[][],
  mask: number[][],
  past: Gpt2Cache = emptyCache(shape, ids.length)
): Promise<{ logits: Float32Array; cache: Gpt2Cache }> => {
  const positions = mask.map((row) => {
    let seen = 0
    return row.map((attended) => (attended ? seen++ : 1)).slice(-ids[0].length)
  })
  const outputs = await target.run({
    input_ids: int64(ids),
    attention_mask: int64(mask),
    position_ids: int64(positions),
    ...past,
  })
  const cache = Object.fromEntries(
    Object.entries(outputs)
      .filter(([name]) => name.startsWith('present.'))
      .map(([name, tensor]) => [name.replace('present', 'past_key_values'), tensor])
  )
  return { logits: outputs.logits.data as Float32Array, cache }
}
