/**
 * Some OpenAI-compatible servers ignore `encoding_format: "base64"` and answer float arrays. The official SDK asks for
 * base64 by default and decodes it blindly, so a float array becomes wrong, shorter vectors with no error
 * (wire-notes §6). This re-encodes such an answer: little-endian float32 bytes, base64, as OpenAI sends them.
 */

/**
 * One vector as OpenAI's base64 embedding: its float32 bytes in the platform's order, which is little-endian on every
 * platform the gateway runs on (x86-64 and ARM64, Node and workerd), as the SDKs decode it.
 */
export const encodeFloat32Base64 = (values: ArrayLike<number>): string => {
  const floats = values instanceof Float32Array ? values : new Float32Array(values)
  const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength)
  let binary = ''
  const step = 0x8000
  for (let offset = 0; offset < bytes.length; offset += step) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + step))
  }
  return btoa(binary)
}

const floatArrayMarker = /"embedding"\s*:\s*\[/

/** Returns the body unchanged unless it carries float embeddings; then the same body with base64 strings. */
export const encodeEmbeddingsBase64 = (bytes: Uint8Array): Uint8Array => {
  const text = new TextDecoder().decode(bytes)
  if (!floatArrayMarker.test(text)) return bytes
  let parsed: { data?: { embedding?: unknown }[] }
  try {
    parsed = JSON.parse(text) as typeof parsed
  } catch {
    return bytes
  }
  for (const item of parsed.data ?? []) {
    if (Array.isArray(item.embedding))
      item.embedding = encodeFloat32Base64(item.embedding as number[])
  }
  return new TextEncoder().encode(JSON.stringify(parsed))
}
