/**
 * Turns generated token ids into text pieces as they come. Decoding one token at a time is wrong twice over: a
 * byte-level token can hold part of a UTF-8 character (decoded alone it is U+FFFD), and SentencePiece-style tokenizers
 * drop a token's leading space when it starts the text. So each new token is decoded with the tokens before it, the
 * piece that text adds is emitted once it no longer ends in an incomplete character, and the window then moves on (as
 * Hugging Face's text-generation-inference does). The pieces joined are the text of the whole sequence.
 */
export type IncrementalDecoder = {
  /** The text this token completes; often '' (part of a character, or a special token). */
  push(token: number): string
  /** What is still held back at the end (an incomplete character the sequence ends with). */
  flush(): string
}

/** `decode` turns ids into text, special tokens skipped. */
export const createIncrementalDecoder = (decode: (ids: number[]) => string): IncrementalDecoder => {
  const tokens: number[] = []
  let prefixOffset = 0
  let readOffset = 0
  // Tokenizers refuse to decode nothing.
  const decodeIds = (ids: number[]): string => (ids.length === 0 ? '' : decode(ids))
  const pending = (): { prefix: string; text: string } => ({
    prefix: decodeIds(tokens.slice(prefixOffset, readOffset)),
    text: decodeIds(tokens.slice(prefixOffset)),
  })
  return {
    push(token) {
      tokens.push(token)
      const { prefix, text } = pending()
      if (text.length <= prefix.length || text.endsWith('\uFFFD')) return ''
      prefixOffset = readOffset
      readOffset = tokens.length
      return text.slice(prefix.length)
    },
    flush() {
      const { prefix, text } = pending()
      prefixOffset = readOffset = tokens.length
      return text.slice(prefix.length)
    },
  }
}
