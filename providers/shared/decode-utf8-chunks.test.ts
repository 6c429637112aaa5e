import { describe, expect, it } from 'vitest'
import { createUtf8ChunkDecoder, forgetDecoded } from './decode-utf8-chunks.ts'

const text = 'a é ✓ 𝄞 — ok\n日本語 🙂'

describe('createUtf8ChunkDecoder', () => {
  it('decodes text cut at every possible place, into pieces of every size', () => {
    const bytes = new TextEncoder().encode(text)
    for (let size = 1; size <= bytes.length; size += 1) {
      const decoder = createUtf8ChunkDecoder()
      let out = ''
      for (let offset = 0; offset < bytes.length; offset += size)
        out += decoder.decode(bytes.subarray(offset, offset + size))
      expect(out + decoder.end()).toBe(text)
    }
  })

  it('keeps U+FEFF inside the text wherever the chunks are cut, and drops it at the start of the stream only, like TextDecoder', () => {
    const withMarks = '\ufeffdata: a\ufeffb \ufeff\n\n'
    const bytes = new TextEncoder().encode(withMarks)
    const reference = new TextDecoder().decode(bytes)
    expect(reference).toBe(withMarks.slice(1))
    for (let size = 1; size <= bytes.length; size += 1) {
      const decoder = createUtf8ChunkDecoder()
      let out = ''
      for (let offset = 0; offset < bytes.length; offset += size)
        out += decoder.decode(bytes.subarray(offset, offset + size))
      expect(out + decoder.end(), `pieces of ${size}`).toBe(reference)
    }
    const large = new TextEncoder().encode(`é${'x'.repeat(2000)}`)
    const decoder = createUtf8ChunkDecoder()
    // After a chunk that was not ASCII a large one goes to ICU: a mark at its start stays there too.
    expect(
      decoder.decode(large) + decoder.decode(new TextEncoder().encode(`\ufeff${'y'.repeat(2000)}`))
    ).toBe(`é${'x'.repeat(2000)}\ufeff${'y'.repeat(2000)}`)
  })

  it('decodes large chunks of mixed text the same, whichever decoder takes them', () => {
    const event = (content: string) => `data: {"choices":[{"delta":{"content":"${content}"}}]}\n\n`
    const text = [
      event('plain').repeat(40),
      event('café — 日本語 🙂').repeat(40),
      event('plain').repeat(40),
      event('ü').repeat(40),
    ].join('')
    const bytes = new TextEncoder().encode(text)
    for (const size of [1500, 2048, 4093]) {
      const decoder = createUtf8ChunkDecoder()
      let out = ''
      for (let offset = 0; offset < bytes.length; offset += size)
        out += decoder.decode(bytes.subarray(offset, offset + size))
      expect(out + decoder.end()).toBe(text)
    }
  })

  it('turns a character cut short at the end, or invalid bytes, into U+FFFD like TextDecoder', () => {
    const decoder = createUtf8ChunkDecoder()
    expect(decoder.decode(new Uint8Array([0x61, 0xe2, 0x9c]))).toBe('a')
    expect(decoder.end()).toBe('\uFFFD')
    expect(createUtf8ChunkDecoder().decode(new Uint8Array([0x62, 0xff, 0x63]))).toBe('b\uFFFDc')
  })

  it('gives a chunk decoded by another decoder the same text, each decoder minding its own state, and decodes anew once forgotten', () => {
    const encoder = new TextEncoder()
    const tap = createUtf8ChunkDecoder()
    const rewrite = createUtf8ChunkDecoder()
    // Both at the start of their stream: each drops the byte order mark itself.
    const first = encoder.encode('\ufeffdata: one\n\n')
    expect(tap.decode(first)).toBe('data: one\n\n')
    expect(rewrite.decode(first)).toBe('data: one\n\n')
    // Mid-stream, a U+FEFF is text, for the second decoder as for the first.
    const second = encoder.encode('\ufeffé\n\n')
    expect(tap.decode(second)).toBe('\ufeffé\n\n')
    expect(rewrite.decode(second)).toBe('\ufeffé\n\n')
    // A decoder holding part of a character does not take the remembered text of a whole chunk.
    const split = encoder.encode('✓')
    expect(tap.decode(split.subarray(0, 1))).toBe('')
    const rest = split.subarray(1)
    expect(createUtf8ChunkDecoder().decode(rest)).toBe('\ufffd\ufffd')
    expect(tap.decode(rest)).toBe('✓')
    // Changed in place after being forgotten: decoded anew.
    const third = encoder.encode('data: abc\n\n')
    expect(tap.decode(third)).toBe('data: abc\n\n')
    forgetDecoded(third)
    third.set(encoder.encode('xyz'), 6)
    expect(rewrite.decode(third)).toBe('data: xyz\n\n')
  })
})
