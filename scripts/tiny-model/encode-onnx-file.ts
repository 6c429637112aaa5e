import { encodeOnnxModel } from './encode-onnx-model.ts'
import type { GraphProto } from './encode-onnx-model.ts'

/**
 * The bytes of a generated model's `.onnx` file: `graph` in ONNX IR 8 with opset 17 (ONNX 1.12), which onnxruntime
 * 1.30 reads (it takes IR versions up to 11), produced by `gatehouse` at `producerVersion` (`<name>/<version>`).
 */
export const encodeOnnxFile = (
  graph: GraphProto,
  { producerVersion, docString }: { producerVersion: string; docString: string }
): Uint8Array =>
  encodeOnnxModel({
    irVersion: 8,
    opsetImports: [{ domain: '', version: 17 }],
    producerName: 'gatehouse',
    producerVersion,
    docString,
    graph,
  })
