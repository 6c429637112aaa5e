/**
 * The one-way form an API key is stored and looked up by: SHA-256, as 64 lowercase hex digits. A key carries 256
 * random bits, so a fast unsalted hash is enough (there is nothing to brute-force) and the same key always finds the
 * same row. Web Crypto only, so Node and Workers share it.
 * https://developer.mozilla.org/en-US/docs/Web/API/SubtleCrypto/digest
 */

const encoder = new TextEncoder()

const hex = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

export const hashApiKey = async (key: string): Promise<string> => {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(key)))
  let text = ''
  for (const byte of digest) text += hex[byte]
  return text
}

/**
 * Compares two strings of equal length by visiting every character whatever the input, so the time taken does not
 * tell where they differ. Meant for digests (fixed length): a length mismatch returns at once, which reveals only the
 * length.
 */
export const equalInConstantTime = (left: string, right: string): boolean => {
  if (left.length !== right.length) return false
  let difference = 0
  for (let index = 0; index < left.length; index += 1)
    difference |= left.charCodeAt(index) ^ right.charCodeAt(index)
  return difference === 0
}
