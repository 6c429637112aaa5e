/**
 * The tiny model's byte-level vocabulary, as GPT-2, SmolLM2 and Qwen2.5 build theirs: every byte is a token (so any
 * UTF-8 text encodes, and decodes back byte for byte), a few BPE merges of common English pieces on top, then the
 * special tokens. Token ids 0-255 are the bytes themselves; merges follow in rank order; the specials come last.
 */

/**
 * GPT-2's `bytes_to_unicode`: each byte as a printable character, so a byte-level token is a plain string in
 * tokenizer.json. Printable Latin-1 bytes stand for themselves; the others (space, control bytes, ...) are shifted
 * past U+0100, in byte order (so a space is `Ġ`, U+0120, and a newline `Ċ`, U+010A).
 */
export const byteToUnicode: readonly string[] = (() => {
  const printable = (byte: number): boolean =>
    (byte >= 0x21 && byte <= 0x7e) ||
    (byte >= 0xa1 && byte <= 0xac) ||
    (byte >= 0xae && byte <= 0xff)
  const characters: string[] = []
  let shifted = 0
  for (let byte = 0; byte < 256; byte += 1) {
    characters.push(String.fromCodePoint(printable(byte) ? byte : 256 + shifted++))
  }
  return characters
})()

/** The merges, in rank order, as the two pieces of text they join (a space is a plain space here). */
const mergedPieces: readonly (readonly [string, string])[] = [
  [' ', 't'],
  [' ', 'a'],
  ['h', 'e'],
  ['i', 'n'],
  ['r', 'e'],
  ['o', 'n'],
  [' t', 'he'],
  ['e', 'r'],
  [' ', 's'],
  ['a', 't'],
  [' ', 'w'],
  [' ', 'o'],
  ['e', 'n'],
  [' ', 'c'],
  ['i', 't'],
  ['i', 's'],
  ['a', 'n'],
  ['o', 'r'],
  ['e', 's'],
  [' ', 'b'],
  ['e', 'd'],
  [' ', 'f'],
  ['in', 'g'],
  [' ', 'p'],
  ['o', 'u'],
  [' a', 'n'],
  ['a', 'l'],
  ['a', 'r'],
  [' t', 'o'],
  [' ', 'm'],
  [' o', 'f'],
  [' ', 'in'],
  [' ', 'd'],
  [' ', 'h'],
  [' an', 'd'],
  ['i', 'c'],
  ['a', 's'],
  ['l', 'e'],
  [' t', 'h'],
  ['i', 'on'],
  ['o', 'm'],
  ['l', 'l'],
  ['en', 't'],
  [' ', 'n'],
  [' ', 'l'],
  ['s', 't'],
  [' ', 're'],
  ['v', 'e'],
  [' ', 'e'],
  ['r', 'o'],
  ['l', 'y'],
  [' b', 'e'],
  [' ', 'g'],
  [' ', 'T'],
  ['c', 't'],
  [' ', 'S'],
  ['i', 'd'],
  ['o', 't'],
  [' ', 'I'],
  ['u', 't'],
  ['e', 't'],
]

/** A piece of ASCII text in the byte-level alphabet. */
const toByteLevel = (text: string): string =>
  Array.from(new TextEncoder().encode(text), (byte) => byteToUnicode[byte]).join('')

/** The special tokens, in id order after the merges: GPT-2's end of text, then ChatML's turn markers. */
export const specialTokens = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const
export type SpecialToken = (typeof specialTokens)[number]

export interface TinyVocabulary {
  /** Every token's string, by id (byte-level characters for ordinary tokens). */
  tokens: readonly string[]
  /** The ASCII text of each ordinary token, by id ('' for a byte past 0x7f, part of a longer character). */
  texts: readonly string[]
  /** The BPE merges in rank order, as byte-level pairs. */
  merges: readonly (readonly [string, string])[]
  /** The id of each special token. */
  specialIds: Readonly<Record<SpecialToken, number>>
}

/** Builds the vocabulary: 256 bytes, the merges, the specials (320 tokens). */
export const createTinyVocabulary = (): TinyVocabulary => {
  const tokens = [...byteToUnicode]
  const texts = Array.from({ length: 256 }, (_, byte) =>
    byte < 0x80 ? String.fromCharCode(byte) : ''
  )
  const known = new Set(tokens)
  const merges = mergedPieces.map(([left, right]) => {
    const pair = [toByteLevel(left), toByteLevel(right)] as const
    for (const piece of pair) {
      if (!known.has(piece)) throw new Error(`merge ${left}+${right}: ${piece} is not a token yet`)
    }
    const merged = pair[0] + pair[1]
    if (known.has(merged)) throw new Error(`merge ${left}+${right}: ${merged} exists already`)
    known.add(merged)
    tokens.push(merged)
    texts.push(left + right)
    return pair
  })
  const specialIds = Object.fromEntries(
    specialTokens.map((token) => {
      tokens.push(token)
      return [token, tokens.length - 1]
    })
  ) as Record<SpecialToken, number>
  return { tokens, texts, merges, specialIds }
}
