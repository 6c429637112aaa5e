import { DataType } from './encode-onnx-model.ts'
import type { GraphProto, ValueInfoProto } from './encode-onnx-model.ts'
import { GraphBuilder } from './graph-builder.ts'
import type { Gpt2Weights, LayerNormWeights, LinearWeights } from './gpt2-weights.ts'
import { quantizeWeights } from './quantize-weights.ts'

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
 * The ONNX graph of a GPT-2 causal LM with a KV cache, from standard opset-17 operators only, so any ONNX runtime
 * runs it; onnxruntime fuses the GELU and the transposed matmuls itself at load.
 *
 * Attention masks both ways at once: a query at absolute position `past + i` sees the keys at positions up to its
 * own (causal), and no key whose `attention_mask` is 0 (padding). A padding query sees nothing; its scores are all
 * the same large negative number, so its softmax is uniform rather than NaN, and nothing reads its output.
 *
 * With `quantize`, the weights are stored in int8 and the activations stay float32 ("weight-only" quantization):
 * each weight matrix is `DequantizeLinear` (7-bit, one scale per output column) into `MatMul`, which onnxruntime
 * 1.30 turns into one `MatMulNBits` kernel at load (no float copy of the weights is kept), and each embedding table is
 * gathered as int8 and dequantized after the lookup. The attention matmuls between activations stay float.
 * `quantize_dynamic`'s format (`DynamicQuantizeLinear` + `MatMulInteger`, what most `model_quantized.onnx` files on
 * the Hub hold) runs as fast on this model, but it quantizes the activations with one scale for the whole batch, so a
 * row's logits change with the other rows of a batch (by up to 0.17 here, against about 1e-4 weight-only): micro-batched
 * requests would no longer give the same text for the same seed.
 */
export const buildGpt2Graph = (
  weights: Gpt2Weights,
  { quantize }: { quantize: boolean }
): GraphProto => {
  const { shape } = weights
  const headDim = shape.nEmbd / shape.nHead
  if (!Number.isInteger(headDim)) throw new Error('nEmbd must be a multiple of nHead')
  const graph = new GraphBuilder()
  const int64 = (name: string, values: readonly number[], dims = [values.length]): string =>
    graph.constant(name, DataType.int64, dims, values)
  const float = (name: string, values: ArrayLike<number>, dims: readonly number[]): string =>
    graph.constant(name, DataType.float, dims, values)

  const one = int64('one', [1], [])
  const zero = int64('zero', [0], [])
  const scalarOne = float('one_f', [1], [])
  const scalarHalf = float('half_f', [0.5], [])
  const sqrtTwo = float('sqrt_two_f', [Math.SQRT2], [])
  const attentionScale = float('attention_scale', [1 / Math.sqrt(headDim)], [])
  const headsShape = int64('heads_shape', [0, 0, shape.nHead, headDim])
  const mergedShape = int64('merged_shape', [0, 0, shape.nEmbd])
  const qkvSplit = int64('qkv_split', [shape.nEmbd, shape.nEmbd, shape.nEmbd])

  /** `x @ W + b`, with W in float32 or in int8. */
  const linear = (name: string, x: string, layer: LinearWeights): string => {
    const dims = [layer.inputs, layer.outputs]
    const bias = float(`${name}.bias`, layer.bias, [layer.outputs])
    if (!quantize) {
      const product = graph.op('MatMul', `${name}/MatMul`, [
        x,
        float(`${name}.weight`, layer.weight, dims),
      ])
      return graph.op('Add', `${name}/Add`, [product, bias])
    }
    const q = quantizeWeights(layer.weight, { reduceRange: true, columns: layer.outputs })
    const weight = graph.op(
      'DequantizeLinear',
      `${name}/DequantizeLinear`,
      [
        graph.constant(`${name}.weight_quantized`, DataType.int8, dims, q.values),
        float(`${name}.weight_scale`, q.scales, [layer.outputs]),
        graph.constant(
          `${name}.weight_zero_point`,
          DataType.int8,
          [layer.outputs],
          new Int8Array(layer.outputs)
        ),
      ],
      { axis: 1 }
    )
    const product = graph.op('MatMul', `${name}/MatMul`, [x, weight])
    return graph.op('Add', `${name}/Add`, [product, bias])
  }

  /** Rows of an embedding table, float or int8 dequantized after the lookup. */
  const embedding = (name: string, table: Float32Array, rows: number, ids: string): string => {
    const dims = [rows, shape.nEmbd]
    if (!quantize) return graph.op('Gather', `${name}/Gather`, [float(name, table, dims), ids])
    const q = quantizeWeights(table, { reduceRange: false })
    const quantized = graph.constant(`${name}_quantized`, DataType.int8, dims, q.values)
    const gathered = graph.op('Gather', `${name}/Gather`, [quantized, ids])
    return graph.op('DequantizeLinear', `${name}/DequantizeLinear`, [
      gathered,
      float(`${name}_scale`, q.scales, []),
      graph.constant(`${name}_zero_point`, DataType.int8, [], [0]),
    ])
  }

  const layerNorm = (name: string, x: string, norm: LayerNormWeights): string =>
    graph.op(
      'LayerNormalization',
      `${name}/LayerNormalization`,
      [
        x,
        float(`${name}.weight`, norm.weight, [shape.nEmbd]),
        float(`${name}.bias`, norm.bias, [shape.nEmbd]),
      ],
      { axis: -1, epsilon: { float: shape.layerNormEpsilon } }
    )

  // The additive attention mask [batch, 1, sequence, total]: 0 where a query may look, -1e9 elsewhere.
  const sequenceLength = graph.op('Gather', 'mask/sequence_length', [
    graph.op('Shape', 'mask/input_shape', ['input_ids']),
    one,
  ])
  const totalLength = graph.op('Gather', 'mask/total_length', [
    graph.op('Shape', 'mask/mask_shape', ['attention_mask']),
    one,
  ])
  const pastLength = graph.op('Sub', 'mask/past_length', [totalLength, sequenceLength])
  const queryPositions = graph.op('Unsqueeze', 'mask/query_column', [
    graph.op('Range', 'mask/query_positions', [pastLength, totalLength, one]),
    int64('axes_1', [1]),
  ])
  const keyPositions = graph.op('Range', 'mask/key_positions', [zero, totalLength, one])
  const causal = graph.op('LessOrEqual', 'mask/causal', [keyPositions, queryPositions])
  const notPadding = graph.op('Unsqueeze', 'mask/not_padding', [
    graph.op('Cast', 'mask/mask_bool', ['attention_mask'], { to: DataType.bool }),
    int64('axes_1_2', [1, 2]),
  ])
  const visible = graph.op('And', 'mask/visible', [causal, notPadding])
  const maskBias = graph.op('Where', 'mask/bias', [
    visible,
    float('mask_open', [0], []),
    float('mask_closed', [-1e9], []),
  ])

  let hidden = graph.op('Add', 'embeddings/Add', [
    embedding('wte', weights.wte, shape.vocabSize, 'input_ids'),
    embedding('wpe', weights.wpe, shape.nPositions, 'position_ids'),
  ])

  const splitHeads = (name: string, x: string): string =>
    graph.op(
      'Transpose',
      `${name}/Transpose`,
      [graph.op('Reshape', `${name}/Reshape`, [x, headsShape])],
      { perm: [0, 2, 1, 3] }
    )

  weights.layers.forEach((layer, index) => {
    const prefix = `h.${index}`
    const normed = layerNorm(`${prefix}.ln_1`, hidden, layer.ln1)
    const qkv = linear(`${prefix}.attn.c_attn`, normed, layer.attention)
    const [query, key, value] = graph.opMany('Split', `${prefix}.attn/Split`, [qkv, qkvSplit], 3, {
      axis: -1,
    })
    const presentKey = `present.${index}.key`
    const presentValue = `present.${index}.value`
    graph.opMany(
      'Concat',
      `${prefix}.attn/key_Concat`,
      [`past_key_values.${index}.key`, splitHeads(`${prefix}.attn/key`, key)],
      [presentKey],
      { axis: 2 }
    )
    graph.opMany(
      'Concat',
      `${prefix}.attn/value_Concat`,
      [`past_key_values.${index}.value`, splitHeads(`${prefix}.attn/value`, value)],
      [presentValue],
      { axis: 2 }
    )
    const scores = graph.op('Mul', `${prefix}.attn/scale_Mul`, [
      graph.op('MatMul', `${prefix}.attn/scores_MatMul`, [
        splitHeads(`${prefix}.attn/query`, query),
        graph.op('Transpose', `${prefix}.attn/key_Transpose`, [presentKey], { perm: [0, 1, 3, 2] }),
      ]),
      attentionScale,
    ])
    const probabilities = graph.op(
      'Softmax',
      `${prefix}.attn/Softmax`,
      [graph.op('Add', `${prefix}.attn/mask_Add`, [scores, maskBias])],
      { axis: -1 }
    )
    const context = graph.op('MatMul', `${prefix}.attn/context_MatMul`, [
      probabilities,
      presentValue,
    ])
    const merged = graph.op('Reshape', `${prefix}.attn/merge_Reshape`, [
      graph.op('Transpose', `${prefix}.attn/merge_Transpose`, [context], { perm: [0, 2, 1, 3] }),
      mergedShape,
    ])
    hidden = graph.op('Add', `${prefix}/attn_residual_Add`, [
      hidden,
      linear(`${prefix}.attn.c_proj`, merged, layer.attentionProjection),
    ])

    // GELU, exact form: x/2 * (1 + erf(x / sqrt 2)); onnxruntime fuses the five nodes into one Gelu.
    const up = linear(
      `${prefix}.mlp.c_fc`,
      layerNorm(`${prefix}.ln_2`, hidden, layer.ln2),
      layer.mlpUp
    )
    const erf = graph.op('Erf', `${prefix}.mlp/Erf`, [
      graph.op('Div', `${prefix}.mlp/Div`, [up, sqrtTwo]),
    ])
    const gelu = graph.op('Mul', `${prefix}.mlp/gelu_Mul`, [
      graph.op('Mul', `${prefix}.mlp/half_Mul`, [up, scalarHalf]),
      graph.op('Add', `${prefix}.mlp/erf_Add`, [erf, scalarOne]),
    ])
    hidden = graph.op('Add', `${prefix}/mlp_residual_Add`, [
      hidden,
      linear(`${prefix}.mlp.c_proj`, gelu, layer.mlpDown),
    ])
  })

  const logits = linear('lm_head', layerNorm('ln_f', hidden, weights.lnF), weights.lmHead)
  graph.opMany('Identity', 'logits/Identity', [logits], ['logits'])
  const { inputs, outputs } = gpt2Inputs(shape)
  return graph.finish(quantize ? 'gpt2_quantized' : 'gpt2', inputs, outputs)
}
