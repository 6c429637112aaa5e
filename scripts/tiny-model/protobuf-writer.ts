/**
 * The few protocol buffer wire types an ONNX file needs, written field by field: varints (wire type 0) for integers
 * and enums, 32-bit little-endian (wire type 5) for floats, and length-delimited (wire type 2) for strings, bytes and
 * nested messages. https://protobuf.dev/programming-guides/encoding/
 *
 * Repeated fields are written one tag per element (unpacked), as proto2 files such as onnx.proto declare them;
 * every protobuf parser reads that form. Integers go through BigInt so a negative int64 (an `axis` of -1) gets its
 * ten-byte two's complement varint, as the specification asks.
 */
export class ProtobufWriter {
  private readonly parts: Uint8Array[] = []
  private length = 0

  /** A varint field: int32, int64, enum or bool. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, 0)
    this.rawVarint(BigInt.asUintN(64, BigInt(value)))
    return this
  }

  /** A 32-bit float field (wire type 5). */
  float(field: number, value: number): this {
    this.tag(field, 5)
    const bytes = new Uint8Array(4)
    new DataView(bytes.buffer).setFloat32(0, value, true)
    this.push(bytes)
    return this
  }

  /** A string field, UTF-8 encoded. */
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value))
  }

  /** A bytes field. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2)
    this.rawVarint(BigInt(value.length))
    this.push(value)
    return this
  }

  /** A nested message field, written by `write` into a writer of its own. */
  message(field: number, write: (writer: ProtobufWriter) => void): this {
    const nested = new ProtobufWriter()
    write(nested)
    return this.bytes(field, nested.finish())
  }

  /** The bytes written so far, as one array. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.length)
    let offset = 0
    for (const part of this.parts) {
      out.set(part, offset)
      offset += part.length
    }
    return out
  }

  private tag(field: number, wireType: number): void {
    this.rawVarint(BigInt(field * 8 + wireType))
  }

  private rawVarint(value: bigint): void {
    const bytes: number[] = []
    let rest = value
    do {
      const low = Number(rest & 0x7fn)
      rest >>= 7n
      bytes.push(rest === 0n ? low : low | 0x80)
    } while (rest !== 0n)
    this.push(Uint8Array.from(bytes))
  }

  private push(bytes: Uint8Array): void {
    this.parts.push(bytes)
    this.length += bytes.length
  }
}
