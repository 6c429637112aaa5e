import { describe, expect, it } from 'vitest'
import { createIncrementalDecoder } from './create-incremental-decoder.ts'

/** A byte-level vocabulary: token n is byte n, as invalid UTF-8 decodes to U+FFFD. Token 256 is special (skipped). */
const decodeBytes = (ids: number[]): string =>
  new TextDecoder().decode(Uint8Array.from(ids.filter((id) => id < 256)))

/** SentencePiece's habit: a leading "▁" is a space, dropped at the very start of the decoded text. */
const pieces = ['▁Hello', ',', '▁world', '▁again']
const decodePieces = (ids: number[]): string =>
  ids
    .map((id) => pieces[id])
    .join('')
    .replaceAll('▁', ' ')
    .replace(/^ /, '')

describe('createIncrementalDecoder', () => {
  it('holds a character back until its last byte, and the pieces make the whole text', () => {
    const text = 'añ 👋🏽 中文!'
    const decoder = createIncrementalDecoder(decodeBytes)
    const emitted = [...new TextEncoder().encode(text)].map((byte) => decoder.push(byte))
    expect(emitted.join('') + decoder.flush()).toBe(text)
    expect(emitted.every((piece) => !piece.includes('\uFFFD'))).toBe(true)
    // 👋 is four bytes: three pushes show nothing, the fourth shows it whole.
    const wave = emitted.slice(4, 8)
    expect(wave).toEqual(['', '', '', '👋'])
  })

  it('gives the spaces a token carries at its start, which decoding it alone would drop', () => {
    const decoder = createIncrementalDecoder(decodePieces)
    expect([0, 1, 2, 3].map((id) => decoder.push(id))).toEqual(['Hello', ',', ' world', ' again'])
  })

  it('shows nothing for a special token, and flushes an incomplete character at the end', () => {
    const decoder = createIncrementalDecoder(decodeBytes)
    expect(decoder.push(104)).toBe('h')
    expect(decoder.push(256)).toBe('')
    expect(decoder.push(0xe4)).toBe('')
    expect(decoder.flush()).toBe('\uFFFD')
  })
})
