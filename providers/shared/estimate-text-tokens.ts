/**
 * Estimated tokens of a piece of text, for when no tokenizer is at hand, from the usual BPE rules of thumb: about 4
 * characters per token for ASCII (English, code), about 2 for other scripts below U+0800 (accented Latin, Greek,
 * Cyrillic, Hebrew, Arabic), and 1 for the rest (CJK and others, which tokenizers rarely merge). A character outside
 * the Basic Multilingual Plane is two UTF-16 units (a surrogate pair) and weighs 1, as one character. The gateway's
 * request estimates (`src/core/estimate-tokens.ts`) and the taps' count of a stream's output
 * (`ForwardSummary.outputTokensSeen`) weigh text alike. Read by code unit, not with a string iterator: a tenant key's
 * every request estimates its whole prompt, and the iterator cost about ten times as much per character.
 */
export const estimateTextTokens = (text: string): number => {
  let quarters = 0
  const length = text.length
  for (let index = 0; index < length; index += 1) {
    const unit = text.charCodeAt(index)
    if (unit < 0x80) quarters += 1
    else if (unit < 0x800) quarters += 2
    else {
      quarters += 4
      // A high surrogate followed by a low one: the pair is one character.
      if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < length) {
        const next = text.charCodeAt(index + 1)
        if (next >= 0xdc00 && next <= 0xdfff) index += 1
      }
    }
  }
  return Math.ceil(quarters / 4)
}

/**
 * Weighs a stream's generated text as it passes, for an estimate of its output tokens: the text is weighed a few
 * hundred characters at a time rather than delta by delta, since each weighing rounds up and a delta of one token
 * (` word`, five characters) would weigh two.
 */
export class TextWeigher {
  #weighed = 0
  #unweighed = ''

  add(text: string): void {
    this.#unweighed += text
    if (this.#unweighed.length >= 256) {
      this.#weighed += estimateTextTokens(this.#unweighed)
      this.#unweighed = ''
    }
  }

  /** The tokens of everything added so far. */
  total(): number {
    return this.#weighed + estimateTextTokens(this.#unweighed)
  }
}
