import { buildGpt2Body } from './build-gpt2-body.ts'
import { DataType } from './encode-onnx-model.ts'
import type { GraphProto, ValueInfoProto } from './encode-onnx-model.ts'
import { GraphBuilder } from './graph-builder.ts'
import type { Gpt2ModelWeights } from './gpt2-weights.ts'

/**
 * The inputs and outputs of Hugging Face Optimum's GPT-2 export for the "feature-extraction" task (no KV cache, no
 * head), which Transformers.js runs as `GPT2Model`:
 * - `input_ids` and `attention_mask` (int64). No `position_ids`: Optimum declares it for text generation only, and
 *   Transformers.js feeds it only to a graph that declares it. This graph derives the positions from the mask
 *   itself, so a left-padded row gets the positions it would have alone (Optimum's export counts them from the first
 *   column, which only right padding survives);
 * - `last_hidden_state` [batch_size, sequence_length, n_embd], after the final layer norm: what the
 *   feature-extraction pipeline pools.
 */
export const gpt2FeatureInputs = (
  shape: Gpt2ModelWeights['shape']
): { inputs: ValueInfoProto[]; outputs: ValueInfoProto[] } => ({
  inputs: [
    { name: 'input_ids', elemType: DataType.int64, shape: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', elemType: DataType.int64, shape: ['batch_size', 'sequence_length'] },
  ],
  outputs: [
    {
      name: 'last_hidden_state',
      elemType: DataType.float,
      shape: ['batch_size', 'sequence_length', shape.nEmbd],
    },
  ],
})

/**
 * The ONNX graph of a GPT-2 model for feature extraction: the causal transformer of `buildGpt2Body` without a cache,
 * its last hidden state as the output. With `quantize`, its weights are int8 (weight-only, see `buildGpt2Body`), so a
 * row's hidden states do not depend on the other rows of a batch.
 */
export const buildGpt2FeatureGraph = (
  weights: Gpt2ModelWeights,
  { quantize }: { quantize: boolean }
): GraphProto => {
  const graph = new GraphBuilder()
  const body = buildGpt2Body(graph, weights, {
    quantize,
    cache: false,
    positions: 'attention-mask',
  })
  graph.opMany('Identity', 'last_hidden_state/Identity', [body.hidden], ['last_hidden_state'])
  const { inputs, outputs } = gpt2FeatureInputs(weights.shape)
  return graph.finish(quantize ? 'gpt2_features_quantized' : 'gpt2_features', inputs, outputs)
}
