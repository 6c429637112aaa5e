import type { ForwardSummary, ForwardTap } from '../spec/provider-adapter.ts'

/** A JSON body larger than this is passed through without being read (the tap's memory stays bounded). */
export const maxTappedJsonBytes = 8 * 1024 * 1024

/**
 * The side parser of a non-streamed forwarded body, shared by the dialects: collects the bytes (up to
 * `maxTappedJsonBytes`), parses them once at `finish()`, and lets the dialect read the parsed value. Never throws.
 */
export const createJsonTap = (summarize: (value: unknown) => ForwardSummary): ForwardTap => {
  let parts: Uint8Array[] = []
  let size = 0
  let overflowed = false
  return {
    write(chunk) {
      if (overflowed) return
      size += chunk.byteLength
      if (size > maxTappedJsonBytes) {
        overflowed = true
        parts = []
        return
      }
      parts.push(chunk)
    },
    finish() {
      if (overflowed || parts.length === 0) return { usage: null }
      const decoder = new TextDecoder()
      const text = parts.length === 1 ? decoder.decode(parts[0]) : parts.map((part) => decoder.decode(part, { stream: true })).join('') + decoder.decode()
      parts = []
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        return { usage: null }
      }
      try {
        return summarize(value)
      } catch {
        return { usage: null }
      }
    },
  }
}
