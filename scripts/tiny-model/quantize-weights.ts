/** A tensor quantized to int8: `real = quantized * scale`, one scale per column (or one for all). */
export interface QuantizedWeights {
  values: Int8Array
  scales: Float32Array
}

/**
 * Symmetric int8 quantization (zero point 0), as onnxruntime's quantization tools do for weights with
 * `weight_type=QInt8`. With `columns`, a row-major [rows, columns] matrix gets one scale per column (`per_channel`),
 * else the tensor gets one scale.
 *
 * `reduceRange` keeps 7 bits (max|w| / 63 instead of / 127): onnxruntime's int8 kernels on x86 CPUs without VNNI
 * multiply uint8 by int8 with `vpmaddubsw`, which saturates at int16 when two products add up past 32767; 7-bit
 * weights never get there, on any kernel. The q8 models published for Transformers.js are quantized the same way
 * (`reduce_range=True, per_channel=True`).
 */
export const quantizeWeights = (
  values: Float32Array,
  { reduceRange, columns = 1 }: { reduceRange: boolean; columns?: number }
): QuantizedWeights => {
  const levels = reduceRange ? 63 : 127
  const largest = new Float32Array(columns)
  values.forEach((value, index) => {
    const column = index % columns
    largest[column] = Math.max(largest[column], Math.abs(value))
  })
  const scales = Float32Array.from(largest, (max) => (max === 0 ? 1 : max / levels))
  const quantized = Int8Array.from(values, (value, index) =>
    Math.max(-levels, Math.min(levels, Math.round(value / scales[index % columns])))
  )
  return { values: quantized, scales }
}
