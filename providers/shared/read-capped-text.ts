/**
 * Reads a body as UTF-8 text up to `maxBytes`, then cancels the rest so the connection goes back to the pool
 * (an unread upstream body keeps its socket busy). Used for upstream error bodies, which we only log and summarise.
 */
export const readCappedText = async (
  body: ReadableStream<Uint8Array>,
  maxBytes: number
): Promise<{ text: string; truncated: boolean }> => {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { text: text + decoder.decode(), truncated: false }
      const room = maxBytes - size
      if (value.byteLength > room) {
        text += decoder.decode(value.subarray(0, room))
        await reader.cancel().catch(() => {})
        return { text, truncated: true }
      }
      size += value.byteLength
      text += decoder.decode(value, { stream: true })
    }
  } catch {
    await reader.cancel().catch(() => {})
    return { text: text + decoder.decode(), truncated: true }
  } finally {
    reader.releaseLock()
  }
}
