/**
 * Small edits to a forwarded request's JSON text, so that the client's own bytes go upstream instead of the parsed
 * body serialized anew. A forwarded request often needs one: the routed model's name differs from the one the client
 * sent (`openai/gpt-4o` → `gpt-4o`, an alias), or the gateway asks for `stream_options.include_usage`. Serializing
 * again costs in proportion to the body, and an agent's body is the whole conversation: for a 110 KB chat request
 * `JSON.stringify` took about 320 µs, more than parsing it (130 µs), where these edits take a search and a copy.
 *
 * Each edit returns `undefined` whenever it cannot be sure of doing exactly what serializing the edited body would
 * (the caller then serializes): the text is the one the body was parsed from, and the edited text parses to the same
 * value as `{ ...body, [name]: value }` (member order aside, which JSON does not give meaning to).
 */
import { createQuotedFinder } from './find-quoted.ts'

const isJsonSpace = (code: number): boolean =>
  code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09

const skipSpace = (text: string, index: number): number => {
  while (isJsonSpace(text.charCodeAt(index))) index += 1
  return index
}

/** Where the value of the member key `"name"` found at `at` starts, or -1 when the quoted text there is not a key. */
const valueAfterKey = (text: string, at: number, keyLength: number): number => {
  const colon = skipSpace(text, at + keyLength)
  return text.charCodeAt(colon) === 0x3a /* : */ ? skipSpace(text, colon + 1) : -1
}

const finders = new Map<string, (text: string, from: number) => number>()

/** The search for `"name"`, made once per name (`find-quoted.ts`: about twice as fast as `indexOf` in JSON text). */
const finderOf = (name: string): ((text: string, from: number) => number) => {
  let find = finders.get(name)
  if (find === undefined) finders.set(name, (find = createQuotedFinder(name)))
  return find
}

/**
 * `text` with the value of its top-level member `name`, a string equal to `current`, replaced by the string `next`.
 * Sure only when `"name"` is a key exactly once in the text: the parsed body has that member at the top level, so the
 * one key is it. (A key spelled with escapes, `"m\u006fdel"`, is not found: were the top-level key spelled so and a
 * nested `"model"` hold the same value, the nested one would be the one replaced and the upstream would get the
 * client's own name for the model, which is the request the client wrote.) A value spelled with escapes is not
 * compared, and the edit is refused.
 */
export const replaceTopLevelString = (
  text: string,
  name: string,
  current: string,
  next: string
): string | undefined => {
  const keyLength = name.length + 2
  const find = finderOf(name)
  let found = -1
  let valueStart = -1
  for (let at = find(text, 0); at !== -1; at = find(text, at + keyLength)) {
    const value = valueAfterKey(text, at, keyLength)
    if (value === -1) continue
    if (found !== -1) return undefined
    found = at
    valueStart = value
  }
  if (found === -1) return undefined
  // The whole literal, closing quote included: `"gpt-4o"` does not match the start of `"gpt-4o-mini"`.
  const quoted = JSON.stringify(current)
  if (!text.startsWith(quoted, valueStart)) return undefined
  return `${text.slice(0, valueStart)}${JSON.stringify(next)}${text.slice(valueStart + quoted.length)}`
}

/**
 * `text` with the member `name` (its value already as JSON text) added first in its top-level object. The caller
 * guarantees the parsed body has no member of that name (so there is none in the text, spelled any way), and the
 * object must have a member already (the comma after the new one needs a member to precede).
 */
export const prependMember = (
  text: string,
  name: string,
  valueJson: string
): string | undefined => {
  const open = skipSpace(text, 0)
  if (text.charCodeAt(open) !== 0x7b /* { */) return undefined
  if (text.charCodeAt(skipSpace(text, open + 1)) !== 0x22 /* " */) return undefined
  return `${text.slice(0, open + 1)}${JSON.stringify(name)}:${valueJson},${text.slice(open + 1)}`
}

/** `text` naming `model` as its top-level `model`: as it is when it names it already (`current`), else edited. */
export const withModelName = (text: string, current: unknown, model: string): string | undefined =>
  current === model
    ? text
    : typeof current === 'string'
      ? replaceTopLevelString(text, 'model', current, model)
      : undefined
