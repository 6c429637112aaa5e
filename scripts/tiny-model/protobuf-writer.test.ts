import { describe, expect, it } from 'vitest'
import { ProtobufWriter } from './protobuf-writer.ts'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

describe('ProtobufWriter', () => {
  it('writes varints as the protobuf encoding guide shows them', () => {
    // Field 1 = 150 is the guide's own example: 08 96 01.
    expect(hex(new ProtobufWriter().varint(1, 150).finish())).toBe('089601')
    expect(hex(new ProtobufWriter().varint(2, 0).finish())).toBe('1000')
    // A negative int64 is its 64-bit two's complement: ten bytes.
    expect(hex(new ProtobufWriter().varint(3, -1).finish())).toBe('18ffffffffffffffffff01')
    expect(hex(new ProtobufWriter().varint(1, 2n ** 40n).finish())).toBe('08808080808020')
  })

  it('writes floats little-endian, strings and bytes length-delimited, nested messages inside', () => {
    expect(hex(new ProtobufWriter().float(2, 1).finish())).toBe('150000803f')
    expect(hex(new ProtobufWriter().string(2, 'testing').finish())).toBe('120774657374696e67')
    expect(hex(new ProtobufWriter().string(1, 'é').finish())).toBe('0a02c3a9')
    const nested = new ProtobufWriter()
      .message(3, (inner) => inner.varint(1, 150))
      .bytes(4, new Uint8Array(200))
      .finish()
    expect(hex(nested.subarray(0, 5))).toBe('1a03089601')
    // 200 bytes take a two-byte length: c8 01.
    expect(hex(nested.subarray(5, 8))).toBe('22c801')
    expect(nested.length).toBe(8 + 200)
  })
})
