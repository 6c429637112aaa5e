import { describe, expect, it } from 'vitest'
import { encodeUtf8Piece } from './encode-utf8-pieces.ts'

const encoder = new TextEncoder()

describe('encodeUtf8Piece', () => {
  it('writes the same bytes as TextEncoder, for any text (a lone surrogate as U+FFFD, as it does)', () => {
    for (const text of [
      '',
      'event: x\ndata: {"a":1}\n\n',
      'é',
      '日本語',
      '😀',
      '\ud800',
      'a\udc00b',
      '\u2028',
    ])
      expect(encodeUtf8Piece(text)).toEqual(encoder.encode(text))
  })

  it('never writes over a piece it gave before, however many slabs later', () => {
    const texts = Array.from(
      { length: 3_000 },
      (_, index) => `${'€'.repeat(index % 7)}piece ${index}${'x'.repeat((index * 37) % 1_500)}`
    )
    const pieces = texts.map(encodeUtf8Piece)
    const decoder = new TextDecoder()
    expect(pieces.map((piece) => decoder.decode(piece))).toEqual(texts)
  })

  it('gives a long text a buffer of its own', () => {
    const text = 'a'.repeat(5_000)
    const piece = encodeUtf8Piece(text)
    expect(piece).toEqual(encoder.encode(text))
    expect(piece.buffer.byteLength).toBe(5_000)
  })
})
