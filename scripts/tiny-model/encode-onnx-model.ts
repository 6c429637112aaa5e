import { ProtobufWriter } from './protobuf-writer.ts'

/**
 * The subset of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) a plain feed-forward graph
 * needs, as plain objects, and their encoding. Field numbers are those of onnx.proto; a field left at its default is
 * not written, as a protobuf serializer would not.
 */

/** TensorProto.DataType: the element types the tiny model uses. */
export const DataType = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 } as const
export type DataType = (typeof DataType)[keyof typeof DataType]

/** A constant tensor (an initializer), its values little-endian in `rawData`. */
export interface TensorProto {
  name: string
  dataType: DataType
  dims: readonly number[]
  rawData: Uint8Array
}

/** A node attribute; the kind picks the AttributeProto field and `type`. */
export type AttributeProto =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'ints'; value: readonly number[] }
  | { name: string; kind: 'tensor'; value: TensorProto }

export interface NodeProto {
  name: string
  opType: string
  inputs: readonly string[]
  outputs: readonly string[]
  attributes?: readonly AttributeProto[]
}

/** A graph input or output: a tensor type with a shape whose dimensions are numbers or symbolic names. */
export interface ValueInfoProto {
  name: string
  elemType: DataType
  shape: readonly (number | string)[]
}

export interface GraphProto {
  name: string
  nodes: readonly NodeProto[]
  initializers: readonly TensorProto[]
  inputs: readonly ValueInfoProto[]
  outputs: readonly ValueInfoProto[]
}

export interface ModelProto {
  irVersion: number
  opsetImports: readonly { domain: string; version: number }[]
  producerName: string
  producerVersion: string
  docString?: string
  graph: GraphProto
  metadata?: Readonly<Record<string, string>>
}

const attributeType = { float: 1, int: 2, tensor: 4, ints: 7 } as const

const writeTensor = (writer: ProtobufWriter, tensor: TensorProto): void => {
  for (const dim of tensor.dims) writer.varint(1, dim)
  writer.varint(2, tensor.dataType)
  writer.string(8, tensor.name)
  writer.bytes(9, tensor.rawData)
}

const writeAttribute = (writer: ProtobufWriter, attribute: AttributeProto): void => {
  writer.string(1, attribute.name)
  switch (attribute.kind) {
    case 'float':
      writer.float(2, attribute.value)
      break
    case 'int':
      writer.varint(3, attribute.value)
      break
    case 'tensor':
      writer.message(5, (nested) => writeTensor(nested, attribute.value))
      break
    case 'ints':
      for (const value of attribute.value) writer.varint(8, value)
      break
  }
  writer.varint(20, attributeType[attribute.kind])
}

const writeNode = (writer: ProtobufWriter, node: NodeProto): void => {
  for (const input of node.inputs) writer.string(1, input)
  for (const output of node.outputs) writer.string(2, output)
  writer.string(3, node.name)
  writer.string(4, node.opType)
  for (const attribute of node.attributes ?? []) {
    writer.message(5, (nested) => writeAttribute(nested, attribute))
  }
}

// ValueInfoProto { name = 1; type = 2 } > TypeProto { tensor_type = 1 } > Tensor { elem_type = 1; shape = 2 }
// > TensorShapeProto { dim = 1 } > Dimension { dim_value = 1 | dim_param = 2 }
const writeValueInfo = (writer: ProtobufWriter, info: ValueInfoProto): void => {
  writer.string(1, info.name)
  writer.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.varint(1, info.elemType)
      tensor.message(2, (shape) => {
        for (const dim of info.shape) {
          shape.message(1, (dimension) =>
            typeof dim === 'number' ? dimension.varint(1, dim) : dimension.string(2, dim)
          )
        }
      })
    })
  )
}

const writeGraph = (writer: ProtobufWriter, graph: GraphProto): void => {
  for (const node of graph.nodes) writer.message(1, (nested) => writeNode(nested, node))
  writer.string(2, graph.name)
  for (const tensor of graph.initializers)
    writer.message(5, (nested) => writeTensor(nested, tensor))
  for (const input of graph.inputs) writer.message(11, (nested) => writeValueInfo(nested, input))
  for (const output of graph.outputs) writer.message(12, (nested) => writeValueInfo(nested, output))
}

/** The bytes of an `.onnx` file holding `model`. */
export const encodeOnnxModel = (model: ModelProto): Uint8Array => {
  const writer = new ProtobufWriter()
  writer.varint(1, model.irVersion)
  writer.string(2, model.producerName)
  writer.string(3, model.producerVersion)
  if (model.docString) writer.string(6, model.docString)
  writer.message(7, (nested) => writeGraph(nested, model.graph))
  for (const opset of model.opsetImports) {
    writer.message(8, (nested) => {
      if (opset.domain) nested.string(1, opset.domain)
      nested.varint(2, opset.version)
    })
  }
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    writer.message(14, (nested) => nested.string(1, key).string(2, value))
  }
  return writer.finish()
}
