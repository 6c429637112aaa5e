/**
 * Text as every SQL backend can store it. PostgreSQL refuses a NUL character in `text` ("invalid byte sequence for
 * encoding UTF8: 0x00") and in `json` (`\u0000`), and half a surrogate pair in `json`; SQLite takes both. What a
 * client wrote (an OpenAI `user`, a model name) reaches the usage events, and one event the database refuses fails
 * its whole batch, again at every retry, holding back every event queued behind it. Each such character becomes
 * U+FFFD, the replacement character, on every backend alike, so what is stored and what a filter matches are the
 * same everywhere.
 */
// The NUL character is what this looks for.
// eslint-disable-next-line no-control-regex
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

export const storableText = (text: string): string => text.replace(unstorable, '\ufffd')

/** `null` stays `null`. */
export const storableTextOrNull = (text: string | null): string | null =>
  text === null ? null : storableText(text)

/** Whether `text` is stored as written (no character `storableText` would replace). */
export const isStorableText = (text: string): boolean => {
  unstorable.lastIndex = 0
  return !unstorable.test(text)
}
