import type { ForwardSummary, ForwardTap } from '../spec/provider-adapter.ts'
import { concatBytes } from './read-response-bytes.ts'

/** Stateless use only (no `stream` option), so one serves every tap. */
const decoder = new TextDecoder()

/**
 * A JSON body larger than this is not held whole by the tap (its memory stays bounded): only its first and last
 * `endWindowBytes` are, for `readers.ends`, and it is never parsed whole.
 */
export const maxTappedJsonBytes = 8 * 1024 * 1024

/** Bodies up to this size are read whole (by `readers.bytes`, else parsed); larger ones from their ends first. */
const wholeParseBytes = 8 * 1024

/** How much of each end of a large body `readers.ends` sees. */
export const endWindowBytes = 4 * 1024

/** Faster readers of a body than `JSON.parse` and `summarize`; each answers `undefined` to ask for the full parse. */
export type JsonTapReaders = {
  /** A body up to `wholeParseBytes`, as its bytes (`scan-json.ts`). */
  bytes?: (bytes: Uint8Array) => ForwardSummary | undefined
  /** A larger body, as the text of its first and last `endWindowBytes`, where a dialect's `model` and `usage` sit. */
  ends?: (ends: { head: string; tail: string }) => ForwardSummary | undefined
}

/**
 * The side parser of a non-streamed forwarded body, shared by the dialects: collects the bytes (up to
 * `maxTappedJsonBytes`, past which only its ends) and reads them at `finish()`. A dialect's `readers` go first:
 * `bytes` reads a small body by walking its bytes rather than building it as objects, and `ends` reads a large one
 * from its ends, so that a 250 KB embeddings answer is not parsed whole to count its tokens; when they answer
 * `undefined` (or there are none), `summarize` reads the body parsed whole. Never throws.
 */
export const createJsonTap = (
  summarize: (value: unknown) => ForwardSummary,
  readers: JsonTapReaders = {}
): ForwardTap => {
  let parts: Uint8Array[] = []
  let size = 0
  /** Past `maxTappedJsonBytes`: the body's first `endWindowBytes` (a copy), and `parts` holds only its last ones. */
  let head: Uint8Array | null = null
  /** The bytes of `parts` after the first, once past the bound: what the tail window needs of them. */
  let tailSize = 0
  /** Lets go of the leading parts the last `endWindowBytes` no longer need. */
  const keepTail = (): void => {
    while (parts.length > 1 && tailSize >= endWindowBytes) {
      parts.shift()
      tailSize -= parts[0].byteLength
    }
  }
  return {
    write(chunk) {
      size += chunk.byteLength
      parts.push(chunk)
      if (head !== null) {
        tailSize += chunk.byteLength
        keepTail()
      } else if (size > maxTappedJsonBytes) {
        const all = concatBytes(parts, size)
        head = all.slice(0, endWindowBytes)
        parts = [all.subarray(all.byteLength - endWindowBytes)]
        tailSize = 0
      }
    },
    finish() {
      if (head !== null) {
        // Too large to parse whole: read from its ends, or not at all.
        const tail = concatBytes(
          parts,
          parts.reduce((total, part) => total + part.byteLength, 0)
        )
        parts = []
        try {
          return (
            readers.ends?.({
              head: decoder.decode(head),
              tail: decoder.decode(tail.subarray(Math.max(0, tail.byteLength - endWindowBytes))),
            }) ?? { usage: null }
          )
        } catch {
          return { usage: null }
        }
      }
      if (parts.length === 0) return { usage: null }
      const bytes = concatBytes(parts, size)
      parts = []
      if (bytes.byteLength <= wholeParseBytes) {
        if (readers.bytes !== undefined) {
          try {
            const summary = readers.bytes(bytes)
            if (summary !== undefined) return summary
          } catch {
            // Fall through to the full parse.
          }
        }
      } else if (readers.ends !== undefined) {
        try {
          const head = decoder.decode(bytes.subarray(0, endWindowBytes))
          const tail = decoder.decode(bytes.subarray(bytes.byteLength - endWindowBytes))
          const summary = readers.ends({ head, tail })
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
