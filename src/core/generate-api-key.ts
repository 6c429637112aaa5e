/**
 * Tenant API keys: `gh-` followed by 43 base62 characters (about 256 bits from `crypto.getRandomValues`). The prefix
 * lets log redaction and secret scanners recognise a key; base62 keeps it one token when double-clicked or pasted.
 * Web Crypto only, so Node and Workers share it. The key itself is shown once and never stored: stores keep its
 * SHA-256 (`hashApiKey`) and its display prefix.
 */

export const apiKeyPrefix = 'gh-'

const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** 43 base62 characters carry 43 × log2(62) ≈ 256 bits. */
const randomLength = 43

/** Characters of a key shown in lists and logs to tell keys apart: `gh-` and the next 6. */
const displayLength = apiKeyPrefix.length + 6

/**
 * `length` characters drawn uniformly from `alphabet`. A byte maps to a character only below 248 (4 × 62): taking
 * every byte modulo 62 would make the first 8 characters more likely than the rest.
 */
export const randomBase62 = (length: number): string => {
  let text = ''
  // getRandomValues fills at most 65,536 bytes a call.
  const bytes = new Uint8Array(Math.min(Math.ceil(length * 1.25) + 8, 65_536))
  while (text.length < length) {
    crypto.getRandomValues(bytes)
    for (const byte of bytes) {
      if (byte >= 248) continue
      text += alphabet[byte % 62]
      if (text.length === length) break
    }
  }
  return text
}

export type GeneratedApiKey = {
  /** The full key: shown to the caller once, never stored. */
  key: string
  /** What lists show: `gh-Ab3xY9`. */
  displayPrefix: string
}

export const generateApiKey = (): GeneratedApiKey => {
  const key = apiKeyPrefix + randomBase62(randomLength)
  return { key, displayPrefix: apiKeyDisplayPrefix(key) }
}

export const apiKeyDisplayPrefix = (key: string): string => key.slice(0, displayLength)

const shape = new RegExp(`^${apiKeyPrefix}[0-9A-Za-z]{${randomLength}}$`)

/** Whether `text` has the shape of a key `generateApiKey` makes: lets a caller refuse garbage without a lookup. */
export const isApiKeyShaped = (text: string): boolean => shape.test(text)
