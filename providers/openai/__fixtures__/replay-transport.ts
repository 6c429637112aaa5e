/**
 * A fake `UpstreamTransport` for adapter tests: replays recorded bodies, split into chunks at chosen byte boundaries,
 * and records what the adapter sent and whether it released each body.
 */
import type { UpstreamRequest, UpstreamResponse, UpstreamTransport } from '../../spec/provider-adapter.ts'

export type Replay = {
  status?: number
  headers?: Record<string, string>
  body: string | Uint8Array
  /** Sizes of the body's successive chunks in bytes (the rest comes as one last chunk); default: one chunk. */
  chunkSizes?: number[]
  /** Error the body with this after all chunks (a reset connection) instead of ending it. */
  failWith?: unknown
}

export type ReplayTransport = UpstreamTransport & {
  readonly requests: UpstreamRequest[]
  /** Per response, in order: `true` once its body was read to the end or cancelled. */
  readonly released: boolean[]
  readonly cancelled: boolean[]
}

const split = (bytes: Uint8Array, sizes: number[] | undefined): Uint8Array[] => {
  const parts: Uint8Array[] = []
  let offset = 0
  for (const size of sizes ?? []) {
    if (offset >= bytes.length) break
    parts.push(bytes.subarray(offset, offset + size))
    offset += size
  }
  if (offset < bytes.length) parts.push(bytes.subarray(offset))
  return parts
}

/** Splits `text` into chunks of `size` bytes each: the worst case for a parser (cuts inside UTF-8 and `\r\n`). */
export const everyBytes = (text: string, size: number): number[] =>
  Array.from({ length: Math.ceil(new TextEncoder().encode(text).length / size) }, () => size)

export const createReplayTransport = (replays: Replay[]): ReplayTransport => {
  const requests: UpstreamRequest[] = []
  const released: boolean[] = []
  const cancelled: boolean[] = []
  return {
    requests,
    released,
    cancelled,
    async request(request) {
      const position = requests.length
      requests.push(request)
      const replay = replays[position]
      if (!replay) throw new Error(`replay transport: no response recorded for request ${position + 1}`)
      const bytes = typeof replay.body === 'string' ? new TextEncoder().encode(replay.body) : replay.body
      const parts = split(bytes, replay.chunkSizes)
      released[position] = false
      cancelled[position] = false
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const part = parts.shift()
          if (part) {
            controller.enqueue(part)
            return
          }
          if (replay.failWith !== undefined) {
            controller.error(replay.failWith)
            return
          }
          released[position] = true
          controller.close()
        },
        cancel() {
          released[position] = true
          cancelled[position] = true
        },
      })
      const response: UpstreamResponse = {
        status: replay.status ?? 200,
        headers: new Headers(replay.headers ?? { 'content-type': 'application/json' }),
        body,
      }
      return response
    },
  }
}
