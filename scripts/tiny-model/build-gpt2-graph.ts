import { buildGpt2Body } from './build-gpt2-body.ts'
import { DataType } from './encode-onnx-model.ts'
import type { GraphProto, ValueInfoProto } from './encode-onnx-model.ts'
import { GraphBuilder } from './graph-builder.ts'
import type { Gpt2Weights } from './gpt2-weights.ts'

/**
 * The input and output names and shapes of Hugging Face Optimum's GPT-2 export ("text-generation-with-past"), which
 * Transformers.js feeds for `model_type: "gpt2"`:
 * - `input_ids`, `attention_mask` and `position_ids` (int64); Transformers.js computes `position_ids` from the
 *   attention mask (cumulative sum less one, so left padding does not shift positions) whenever the graph declares
 *   that input;
 * - `past_key_values.<layer>.key|value` [batch_size, n_head, past_sequence_length, head_dim]: for the first step
 *   Transformers.js feeds empty tensors, sized from these declared dimensions (`batch_size` by name, the numeric
 *   ones as they are, any other symbol as 0), so n_head and head_dim must be numbers here;
 * - `logits` [batch_size, sequence_length, vocab_size] and `present.<layer>.key|value` (past and new, concatenated
 *   on the sequence axis).
 */
export const gpt2Inputs = (
  shape: Gpt2Weights['shape']
): { inputs: ValueInfoProto[]; outputs: ValueInfoProto[] } => {
  const headDim = shape.nEmbd / shape.nHead
  const cache = (prefix: string, length: string): ValueInfoProto[] =>
    Array.from({ length: shape.nLayer }, (_, layer) =>
      ['key', 'value'].map((kind) => ({
        name: `${prefix}.${layer}.${kind}`,
        elemType: DataType.float,
        shape: ['batch_size', shape.nHead, length, headDim],
      }))
    ).flat()
  return {
    inputs: [
      { name: 'input_ids', elemType: DataType.int64, shape: ['batch_size', 'sequence_length'] },
      {
        name: 'attention_mask',
        elemType: DataType.int64,
        shape: ['batch_size', 'total_sequence_length'],
      },
      { name: 'position_ids', elemType: DataType.int64, shape: ['batch_size', 'sequence_length'] },
      ...cache('past_key_values', 'past_sequence_length'),
    ],
    outputs: [
      {
        name: 'logits',
        elemType: DataType.float,
        shape: ['batch_size', 'sequence_length', shape.vocabSize],
      },
      ...cache('present', 'total_sequence_length'),
    ],
  }
}

/**
 * The ONNX graph of a GPT-2 causal LM with a KV cache: the transformer of `buildGpt2Body`, fed `position_ids`, and
 * the LM head on its last hidden state. With `quantize`, its weights are int8 (weight-only, see `buildGpt2Body`).
 */
export const buildGpt2Graph = (
  weights: Gpt2Weights,
  { quantize }: { quantize: boolean }
): GraphProto => {
  const graph = new GraphBuilder()
  const body = buildGpt2Body(graph, weights, { quantize, cache: true, positions: 'input' })
  const logits = body.linear('lm_head', body.hidden, weights.lmHead)
  graph.opMany('Identity', 'logits/Identity', [logits], ['logits'])
  const { inputs, outputs } = gpt2Inputs(weights.shape)
  return graph.finish(quantize ? 'gpt2_quantized' : 'gpt2', inputs, outputs)
}
