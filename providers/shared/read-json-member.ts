/**
 * Reads one member of a JSON object's text without parsing the rest: the usage of a forwarded answer sits in a few
 * dozen bytes at the end of a body that can be megabytes (an embeddings list of 1536 floats per input), and the
 * gateway forwards those bytes untouched, so parsing all of them only to count tokens would cost more than the
 * proxying. The key is found by text search: inside a JSON string a quote is escaped (`\"usage\"`), so `"usage"`
 * followed by a colon can only be a key. A nested key of the same name is possible in principle, so callers pick the
 * occurrence the wire format puts first or last, and fall back to a full parse whenever the member is not readable.
 */

/** `absent`: no such key; `unreadable`: a key, but its value could not be read (the caller should parse the body). */
export type JsonMember =
  { kind: 'found'; value: unknown } | { kind: 'absent' } | { kind: 'unreadable' }

const isSpace = (code: number): boolean =>
  code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09

/** The index just past the JSON value starting at `start` (a string, object, array or scalar), or -1. */
const valueEnd = (text: string, start: number): number => {
  const first = text.charCodeAt(start)
  if (first === 0x22 /* " */) {
    for (let index = start + 1; index < text.length; index += 1) {
      const code = text.charCodeAt(index)
      if (code === 0x5c /* \ */) index += 1
      else if (code === 0x22) return index + 1
    }
    return -1
  }
  if (first === 0x7b /* { */ || first === 0x5b /* [ */) {
    let depth = 0
    let inString = false
    for (let index = start; index < text.length; index += 1) {
      const code = text.charCodeAt(index)
      if (inString) {
        if (code === 0x5c) index += 1
        else if (code === 0x22) inString = false
      } else if (code === 0x22) inString = true
      else if (code === 0x7b || code === 0x5b) depth += 1
      else if (code === 0x7d || code === 0x5d) {
        depth -= 1
        if (depth === 0) return index + 1
      }
    }
    return -1
  }
  let index = start
  while (index < text.length && text[index] !== ',' && text[index] !== '}' && text[index] !== ']')
    index += 1
  return index
}

export const readJsonMember = (
  text: string,
  name: string,
  occurrence: 'first' | 'last'
): JsonMember => {
  const key = `"${name}"`
  let at = occurrence === 'first' ? text.indexOf(key) : text.lastIndexOf(key)
  while (at !== -1) {
    let index = at + key.length
    while (index < text.length && isSpace(text.charCodeAt(index))) index += 1
    if (text[index] === ':') {
      index += 1
      while (index < text.length && isSpace(text.charCodeAt(index))) index += 1
      const end = valueEnd(text, index)
      if (end === -1) return { kind: 'unreadable' }
      try {
        return { kind: 'found', value: JSON.parse(text.slice(index, end)) }
      } catch {
        return { kind: 'unreadable' }
      }
    }
    // `"usage"` as a string value, not a key: look further.
    at = occurrence === 'first' ? text.indexOf(key, at + 1) : text.lastIndexOf(key, at - 1)
  }
  return { kind: 'absent' }
}
