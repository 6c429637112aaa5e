import { DataType } from './encode-onnx-model.ts'
import type {
  AttributeProto,
  GraphProto,
  NodeProto,
  TensorProto,
  ValueInfoProto,
} from './encode-onnx-model.ts'

/** Node attributes: a number is an int, a list of numbers is ints, `{ float }` is a float. */
type Attributes = Readonly<Record<string, number | readonly number[] | { float: number }>>

const toAttribute = (
  name: string,
  value: number | readonly number[] | { float: number }
): AttributeProto => {
  if (typeof value === 'number') return { name, kind: 'int', value }
  if ('float' in value) return { name, kind: 'float', value: value.float }
  return { name, kind: 'ints', value }
}

/** The little-endian bytes of `values` as `dataType`, the same on every platform. */
const toRawData = (dataType: DataType, values: ArrayLike<number>): Uint8Array => {
  const width = dataType === DataType.int64 ? 8 : dataType === DataType.float ? 4 : 1
  const bytes = new Uint8Array(values.length * width)
  const view = new DataView(bytes.buffer)
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index]
    if (dataType === DataType.float) view.setFloat32(index * 4, value, true)
    else if (dataType === DataType.int64) view.setBigInt64(index * 8, BigInt(value), true)
    else if (dataType === DataType.int8) view.setInt8(index, value)
    else view.setUint8(index, value)
  }
  return bytes
}

/**
 * Collects the nodes and initializers of an ONNX graph in topological order, as the code that builds the graph
 * calls it: `op` adds a node and returns its output names, `constant` adds an initializer and returns its name.
 * Node outputs are named after the node (`<node>:0`), so the graph reads like the code that built it.
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = []
  private readonly initializers: TensorProto[] = []
  private readonly names = new Set<string>()

  /** An initializer: `values` stored as `dataType` with shape `dims` ([] for a scalar). */
  constant(
    name: string,
    dataType: DataType,
    dims: readonly number[],
    values: ArrayLike<number>
  ): string {
    const size = dims.reduce((product, dim) => product * dim, 1)
    if (size !== values.length) {
      throw new Error(
        `constant ${name}: shape [${dims}] holds ${size} values, got ${values.length}`
      )
    }
    this.claim(name)
    this.initializers.push({ name, dataType, dims, rawData: toRawData(dataType, values) })
    return name
  }

  /** A node with one output, named `<name>:0`. */
  op(opType: string, name: string, inputs: readonly string[], attributes: Attributes = {}): string {
    return this.opMany(opType, name, inputs, 1, attributes)[0]
  }

  /** A node whose `outputs` are a count (named `<name>:0`, `<name>:1`...) or the names to give them. */
  opMany(
    opType: string,
    name: string,
    inputs: readonly string[],
    outputs: number | readonly string[],
    attributes: Attributes = {}
  ): string[] {
    this.claim(name)
    const outputNames =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, (_, index) => `${name}:${index}`)
        : [...outputs]
    this.nodes.push({
      name,
      opType,
      inputs,
      outputs: outputNames,
      attributes: Object.entries(attributes).map(([key, value]) => toAttribute(key, value)),
    })
    return outputNames
  }

  /** The graph, with the given inputs and outputs. */
  finish(
    name: string,
    inputs: readonly ValueInfoProto[],
    outputs: readonly ValueInfoProto[]
  ): GraphProto {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs, outputs }
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`graph builder: the name ${name} is used twice`)
    this.names.add(name)
  }
}
