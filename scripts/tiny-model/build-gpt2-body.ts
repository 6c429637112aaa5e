import { DataType } from './encode-onnx-model.ts'
import type { GraphBuilder } from './graph-builder.ts'
import type { Gpt2ModelWeights, LayerNormWeights, LinearWeights } from './gpt2-weights.ts'
import { quantizeWeights } from './quantize-weights.ts'

/** How `buildGpt2Body` wires the transformer into its graph. */
export interface Gpt2BodyOptions {
  /** Weights in int8, dequantized into each matmul; activations stay float32. */
  quantize: boolean
  /**
   * With a KV cache (the causal LM export): `past_key_values.<layer>.key|value` inputs are concatenated before the
   * new keys and values, and the results are the `present.<layer>.key|value` outputs. Without (feature extraction):
   * a run sees only its own tokens.
   */
  cache: boolean
  /**
   * Where each token's position comes from: the `position_ids` input (the LM export's, which Transformers.js fills
   * from the attention mask), or the attention mask itself, inside the graph: the running count of attended tokens
   * less one, so a left-padded row has the positions it would have alone.
   */
  positions: 'input' | 'attention-mask'
}

/** What the body leaves for the head: the hidden state after the final layer norm, and the dense-layer helper. */
export interface Gpt2Body {
  /** [batch_size, sequence_length, n_embd], after `ln_f`. */
  hidden: string
  /** `x @ W + b`, with W stored as `buildGpt2Body` stores its own (float32 or int8). */
  linear: (name: string, x: string, layer: LinearWeights) => string
}

/**
 * The GPT-2 transformer as ONNX nodes added to `graph`, from the `input_ids` and `attention_mask` inputs to the final
 * layer norm, from standard opset-17 operators only, so any ONNX runtime runs it; onnxruntime fuses the GELU and the
 * transposed matmuls itself at load. The causal LM (`buildGpt2Graph`) and the feature-extraction export
 * (`buildGpt2FeatureGraph`) put their heads on it.
 *
 * Attention masks both ways at once: a query at absolute position `past + i` sees the keys at positions up to its
 * own (causal), and no key whose `attention_mask` is 0 (padding). A padding query sees nothing; its scores are all
 * the same large negative number, so its softmax is uniform rather than NaN, and nothing should read its output.
 *
 * With `quantize`, the weights are stored in int8 and the activations stay float32 ("weight-only" quantization):
 * each weight matrix is `DequantizeLinear` (7-bit, one scale per output column) into `MatMul`, which onnxruntime
 * 1.30 turns into one `MatMulNBits` kernel at load (no float copy of the weights is kept), and each embedding table is
 * gathered as int8 and dequantized after the lookup. The attention matmuls between activations stay float.
 * `quantize_dynamic`'s format (`DynamicQuantizeLinear` + `MatMulInteger`, what most `model_quantized.onnx` files on
 * the Hub hold) runs as fast on these models, but it quantizes the activations with one scale for the whole batch, so
 * a row's output changes with the other rows of a batch (by up to 0.17 in the LM's logits, against about 1e-4
 * weight-only): micro-batched requests would no longer get the answer they get alone.
 */
export const buildGpt2Body = (
  graph: GraphBuilder,
  weights: Gpt2ModelWeights,
  { quantize, cache, positions }: Gpt2BodyOptions
): Gpt2Body => {
  const { shape } = weights
  const headDim = shape.nEmbd / shape.nHead
  if (!Number.isInteger(headDim)) throw new Error('nEmbd must be a multiple of nHead')
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

  // Positions from the mask, as Transformers.js computes `position_ids` for the LM: padding before the first token
  // would count -1, and is clamped to 0 (any valid row would do, nothing reads a padding position's output).
  const positionIds =
    positions === 'input'
      ? 'position_ids'
      : graph.op('Max', 'positions/Max', [
          graph.op('Sub', 'positions/Sub', [
            graph.op('CumSum', 'positions/CumSum', [
              'attention_mask',
              int64('positions_axis', [1], []),
            ]),
            one,
          ]),
          zero,
        ])

  let hidden = graph.op('Add', 'embeddings/Add', [
    embedding('wte', weights.wte, shape.vocabSize, 'input_ids'),
    embedding('wpe', weights.wpe, shape.nPositions, positionIds),
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
    /** This layer's keys or values [batch, heads, total, head size]: after the past ones with a cache. */
    const keysOrValues = (kind: 'key' | 'value', x: string): string => {
      const current = splitHeads(`${prefix}.attn/${kind}`, x)
      if (!cache) return current
      return graph.opMany(
        'Concat',
        `${prefix}.attn/${kind}_Concat`,
        [`past_key_values.${index}.${kind}`, current],
        [`present.${index}.${kind}`],
        { axis: 2 }
      )[0]
    }
    const keys = keysOrValues('key', key)
    const values = keysOrValues('value', value)
    const scores = graph.op('Mul', `${prefix}.attn/scale_Mul`, [
      graph.op('MatMul', `${prefix}.attn/scores_MatMul`, [
        splitHeads(`${prefix}.attn/query`, query),
        graph.op('Transpose', `${prefix}.attn/key_Transpose`, [keys], { perm: [0, 1, 3, 2] }),
      ]),
      attentionScale,
    ])
    const probabilities = graph.op(
      'Softmax',
      `${prefix}.attn/Softmax`,
      [graph.op('Add', `${prefix}.attn/mask_Add`, [scores, maskBias])],
      { axis: -1 }
    )
    const context = graph.op('MatMul', `${prefix}.attn/context_MatMul`, [probabilities, values])
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

  return { hidden: layerNorm('ln_f', hidden, weights.lnF), linear }
}
