/**
 * Reading a few members of a JSON body from its UTF-8 bytes, without `JSON.parse`. A tap reads the usage and the model
 * of every answer it forwards; parsing the answer whole builds every string and object in it (about 1.2 KB for the
 * benchmark's 625-byte chat completion) and costs in proportion to its length, content included. Read from the bytes,
 * only the members wanted and what surrounds them are walked (`lastJsonMemberValue` finds a last member from the end):
 * 2.6 to 3.2 µs against 3.5 to 4.7 for that answer, and 4.9 to 7.4 against 6.1 to 8.4 for a 3.7 KB one (2026-12-07,
 * docs/benchmark.md). A loop over a `Uint8Array` compiles to a load and a compare a byte, where `charCodeAt` over a
 * string cost about 50 instructions a character (it dispatches on the string's representation every time). JSON's
 * structural characters are ASCII, and no byte of a multi-byte UTF-8 character is below 0x80, so the bytes can be
 * walked as they came.
 *
 * What is read is read as `JSON.parse` would read it: members of the object itself, not of what it holds (the
 * structure is walked, and a name found by search is proven the object's own by `closesAtEnd`), the last of duplicate
 * keys, numbers by the JSON grammar; and anything this does not read with certainty (a key with an escape, a value
 * that is not JSON) is answered with -1 or `undefined`, so the caller can fall back to `JSON.parse`. Values only
 * stepped over are matched (a string to its closing quote, a container to its closing bracket), not validated: text
 * that `JSON.parse` would refuse in them can still be read around.
 * https://www.rfc-editor.org/rfc/rfc8259
 */

/** Stateless use only (no `stream` option), so one serves every caller. */
const decoder = new TextDecoder()

const isSpace = (byte: number): boolean =>
  byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09

/** The first index from `at` that is not JSON whitespace. */
export const skipJsonSpace = (bytes: Uint8Array, at: number): number => {
  let index = at
  while (index < bytes.length && isSpace(bytes[index])) index += 1
  return index
}

/** The index just past the string whose opening quote is at `at`, or -1 when it does not close. */
const stringEnd = (bytes: Uint8Array, at: number): number => {
  for (let index = at + 1; index < bytes.length; index += 1) {
    const byte = bytes[index]
    if (byte === 0x5c /* \ */) index += 1
    else if (byte === 0x22 /* " */) return index + 1
    else if (byte < 0x20) return -1
  }
  return -1
}

/**
 * The index of the quote that closes a string whose content starts at `from`, or -1 when an escape or a control
 * character comes first (or the bytes end).
 */
const plainStringEnd = (bytes: Uint8Array, from: number): number => {
  for (let index = from; index < bytes.length; index += 1) {
    const byte = bytes[index]
    if (byte === 0x22) return index
    if (byte === 0x5c || byte < 0x20) return -1
  }
  return -1
}

/** The index just past the object or array whose bracket is at `at`, or -1 when it does not close. */
const containerEnd = (bytes: Uint8Array, at: number): number => {
  let depth = 0
  for (let index = at; index < bytes.length; index += 1) {
    const byte = bytes[index]
    if (byte === 0x22) {
      index = stringEnd(bytes, index) - 1
      if (index < 0) return -1
    } else if (byte === 0x7b /* { */ || byte === 0x5b /* [ */) depth += 1
    else if (byte === 0x7d /* } */ || byte === 0x5d /* ] */) {
      depth -= 1
      if (depth === 0) return index + 1
    }
  }
  return -1
}

/** Whether `bytes` hold `word` (ASCII) from `at`. */
const holds = (bytes: Uint8Array, at: number, word: string): boolean => {
  if (at + word.length > bytes.length) return false
  for (let index = 0; index < word.length; index += 1)
    if (bytes[at + index] !== word.charCodeAt(index)) return false
  return true
}

/**
 * The index just past the JSON value that starts at `at` (no whitespace before it), or -1 when none starts there. A
 * number or literal must be one (`tru` or `01` is not); a string or container is matched to its end.
 */
export const skipJsonValue = (bytes: Uint8Array, at: number): number => {
  const first = bytes[at]
  if (first === 0x22) return stringEnd(bytes, at)
  if (first === 0x7b || first === 0x5b) return containerEnd(bytes, at)
  let end = at
  while (end < bytes.length) {
    const byte = bytes[end]
    if (byte === 0x2c /* , */ || byte === 0x7d || byte === 0x5d || isSpace(byte)) break
    end += 1
  }
  if (end === at) return -1
  if (first === 0x74 /* t */) return end - at === 4 && holds(bytes, at, 'true') ? end : -1
  if (first === 0x66 /* f */) return end - at === 5 && holds(bytes, at, 'false') ? end : -1
  if (first === 0x6e /* n */) return end - at === 4 && holds(bytes, at, 'null') ? end : -1
  return readJsonNumber(bytes, at, end) === undefined ? -1 : end
}

/** A JSON number, by its grammar (`Number` alone would take `0x10`, `Infinity` or ` 1`). */
const jsonNumber = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/

/**
 * The number the bytes from `start` to `end` hold, or `undefined` when they are not a JSON number. Whole numbers of up
 * to 15 digits, all a token count ever is, are added up digit by digit, with no string made.
 */
export const readJsonNumber = (
  bytes: Uint8Array,
  start: number,
  end: number
): number | undefined => {
  if (end - start > 0 && end - start <= 15) {
    let value = 0
    let index = start
    for (; index < end; index += 1) {
      const digit = bytes[index] - 0x30
      if (digit < 0 || digit > 9) break
      value = value * 10 + digit
    }
    // `0` alone, or digits without a leading zero.
    if (index === end && (end - start === 1 || bytes[start] !== 0x30)) return value
  }
  const text = decoder.decode(bytes.subarray(start, end))
  return jsonNumber.test(text) ? Number(text) : undefined
}

/** A member's name, as the bytes `isJsonKey` compares: made once per name, not per call. */
export type JsonKey = Uint8Array

export const jsonKey = (name: string): JsonKey => new TextEncoder().encode(name)

/** Whether the key between `keyStart` and `keyEnd` (inside its quotes) is `key`. */
export const isJsonKey = (
  bytes: Uint8Array,
  keyStart: number,
  keyEnd: number,
  key: JsonKey
): boolean => {
  if (keyEnd - keyStart !== key.length) return false
  for (let index = 0; index < key.length; index += 1)
    if (bytes[keyStart + index] !== key[index]) return false
  return true
}

/**
 * Called with each member of an object: its key inside the quotes, and its value, whitespace excluded. Returning
 * `true` stops the walk there.
 */
export type JsonMemberVisitor<State> = (
  bytes: Uint8Array,
  keyStart: number,
  keyEnd: number,
  valueStart: number,
  valueEnd: number,
  state: State
) => boolean | void

/**
 * Walks the members of the JSON object whose `{` is at `at`, calling `visit` with each (and `state`, so that the
 * visitor can be a function made once rather than a closure per call). Answers the index just past the object (just
 * past the member's value when `visit` stopped the walk), or -1 when what is there is not an object this reads (then
 * nothing it visited should be trusted): a key with an escape, a missing colon or comma, a value that is not JSON.
 */
export const scanJsonObject = <State>(
  bytes: Uint8Array,
  at: number,
  visit: JsonMemberVisitor<State>,
  state: State
): number => {
  if (bytes[at] !== 0x7b) return -1
  let index = skipJsonSpace(bytes, at + 1)
  if (bytes[index] === 0x7d) return index + 1
  for (;;) {
    if (bytes[index] !== 0x22) return -1
    const keyStart = index + 1
    // An escape in a key (`"us\u0061ge"`): not compared here; `JSON.parse` decodes it.
    const keyEnd = plainStringEnd(bytes, keyStart)
    if (keyEnd === -1) return -1
    index = skipJsonSpace(bytes, keyEnd + 1)
    if (bytes[index] !== 0x3a /* : */) return -1
    const valueStart = skipJsonSpace(bytes, index + 1)
    const valueEnd = skipJsonValue(bytes, valueStart)
    if (valueEnd === -1) return -1
    if (visit(bytes, keyStart, keyEnd, valueStart, valueEnd, state) === true) return valueEnd
    index = skipJsonSpace(bytes, valueEnd)
    const byte = bytes[index]
    if (byte === 0x7d) return index + 1
    if (byte !== 0x2c) return -1
    index = skipJsonSpace(bytes, index + 1)
  }
}

/**
 * Where the value of the last member named `key` starts, searched from the end of `bytes`: the last `"key"` whose
 * opening quote follows a `{` or `,` (a quote inside a string is escaped, so never does) and whose closing quote is
 * followed by a colon. -1 when there is none. Whether that member belongs to the outermost object is for
 * `closesAtEnd` to say.
 */
export const lastJsonMemberValue = (bytes: Uint8Array, key: JsonKey): number => {
  for (let at = bytes.length - key.length - 2; at > 0; at -= 1) {
    if (bytes[at] !== 0x22 || bytes[at + key.length + 1] !== 0x22) continue
    if (!isJsonKey(bytes, at + 1, at + 1 + key.length, key)) continue
    let before = at - 1
    while (before > 0 && isSpace(bytes[before])) before -= 1
    if (bytes[before] !== 0x7b && bytes[before] !== 0x2c) continue
    const colon = skipJsonSpace(bytes, at + key.length + 2)
    if (bytes[colon] !== 0x3a) continue
    return skipJsonSpace(bytes, colon + 1)
  }
  return -1
}

/**
 * Whether the member whose value ends at `from` belongs to the outermost object of `bytes`: the members after it are
 * walked to the closing brace of the object that holds it, which must then be the last byte but whitespace. Only the
 * outermost object closes there (of a body that starts with `{` and is JSON). `false` too when a key after it has an
 * escape, which might spell the same name again.
 */
export const closesAtEnd = (bytes: Uint8Array, from: number): boolean => {
  let index = skipJsonSpace(bytes, from)
  while (bytes[index] === 0x2c) {
    index = skipJsonSpace(bytes, index + 1)
    if (bytes[index] !== 0x22) return false
    // A key with an escape might spell the same name again (`"us\u0061ge"`): not read here.
    const keyEnd = plainStringEnd(bytes, index + 1)
    if (keyEnd === -1) return false
    index = skipJsonSpace(bytes, keyEnd + 1)
    if (bytes[index] !== 0x3a) return false
    const valueEnd = skipJsonValue(bytes, skipJsonSpace(bytes, index + 1))
    if (valueEnd === -1) return false
    index = skipJsonSpace(bytes, valueEnd)
  }
  return bytes[index] === 0x7d && skipJsonSpace(bytes, index + 1) === bytes.length
}

/**
 * The string the bytes from `start` to `end` hold (quotes included), decoded; `undefined` when they are not a string.
 * Without escapes its bytes are decoded as they are; with them, `JSON.parse` reads just that string.
 */
export const readJsonString = (
  bytes: Uint8Array,
  start: number,
  end: number
): string | undefined => {
  if (bytes[start] !== 0x22 || end - start < 2) return undefined
  if (plainStringEnd(bytes, start + 1) === end - 1)
    return decoder.decode(bytes.subarray(start + 1, end - 1))
  try {
    const value: unknown = JSON.parse(decoder.decode(bytes.subarray(start, end)))
    return typeof value === 'string' ? value : undefined
  } catch {
    return undefined
  }
}
