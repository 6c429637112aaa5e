import type { ForwardSummary, ForwardTap } from '../spec/provider-adapter.ts'
import { concatBytes } from './read-response-bytes.ts'

/** Stateless use only (no `stream` option), so one serves every tap. */
const decoder = new TextDecoder()

/** A JSON body larger than this is passed through without being read (the tap's memory stays bounded). */
export const maxTappedJsonBytes = 8 * 1024 * 1024

/** Bodies up to this size are parsed whole (faster than searching them); larger ones are read from their ends first. */
const wholeParseBytes = 8 * 1024

/** How much of each end of a large body `summarizeEnds` sees. */
export const endWindowBytes = 4 * 1024

/**
 * The side parser of a non-streamed forwarded body, shared by the dialects: collects the bytes (up to
 * `maxTappedJsonBytes`) and reads them at `finish()`. A large body is first offered to `summarizeEnds` as the text of
 * its first and last `endWindowBytes` (where a dialect's `model` and `usage` sit), so that a 250 KB embeddings answer
 * is not parsed whole to count its tokens; `summarizeEnds` answers `undefined` to ask for the full parse, which
 * `summarize` then reads. Never throws.
 */
export const createJsonTap = (
  summarize: (value: unknown) => ForwardSummary,
  summarizeEnds?: (ends: { head: string; tail: string }) => ForwardSummary | undefined
): ForwardTap => {
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
      const bytes = concatBytes(parts, size)
      parts = []
      if (summarizeEnds && bytes.byteLength > wholeParseBytes) {
        try {
          const head = decoder.decode(bytes.subarray(0, endWindowBytes))
          const tail = decoder.decode(bytes.subarray(bytes.byteLength - endWindowBytes))
          const summary = summarizeEnds({ head, tail })
          if (summary !== undefined) return summary
        } catch {
          // Fall through to the full parse.
        }
      }
      let value: unknown
      try {
        value = JSON.parse(decoder.decode(bytes))
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
