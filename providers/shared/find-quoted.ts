/**
 * A finder of `"name"` (a JSON key or string, quotes included) in a JSON text, for the taps' searches through
 * forwarded streams. It searches for the tail of the quoted name (`usage"`, `rror"`) and checks the head in place:
 * V8's `indexOf` stops at every occurrence of a pattern's first character to compare the rest, and in JSON the quote
 * is the commonest character there is. On a 5 KB chat stream, finding every `"usage"` took 4 µs searching from the
 * quote and 0.8 µs searching from the `u`; a head starting with a letter as common as `e` in English text is worth
 * skipping too (`"error"` is found by `rror"`).
 *
 * `headLength` is how many leading characters of `"name"` are checked rather than searched for (at least 1).
 */
export const createQuotedFinder = (
  name: string,
  headLength = 1
): ((text: string, from: number) => number) => {
  const quoted = `"${name}"`
  if (headLength < 1 || headLength >= quoted.length)
    throw new RangeError(`headLength must be between 1 and ${quoted.length - 1}`)
  const head = quoted.slice(0, headLength)
  const tail = quoted.slice(headLength)
  return (text, from) => {
    for (
      let at = text.indexOf(tail, Math.max(0, from) + headLength);
      at !== -1;
      at = text.indexOf(tail, at + 1)
    ) {
      const start = at - headLength
      if (text.startsWith(head, start)) return start
    }
    return -1
  }
}
