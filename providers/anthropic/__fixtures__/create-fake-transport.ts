/**
 * Test support: an `UpstreamTransport` that replays canned replies, split at chosen byte boundaries, and records what
 * the adapter sent and whether each body was read to the end or cancelled (an unreleased body starves the pool).
 */
import type { UpstreamRequest, UpstreamTransport } from '../../spec/provider-adapter.ts'

export type FakeReply = {
  status?: number
  headers?: Record<string, string>
  body?: string
  /** Bytes per chunk (default: the whole body at once). */
  chunkSize?: number
}

export type FakeBody = { cancelled: boolean; finished: boolean; bytesRead: number }

export type FakeTransport = UpstreamTransport & { requests: UpstreamRequest[]; bodies: FakeBody[] }

export const createFakeTransport = (
  replies: FakeReply[] | ((request: UpstreamRequest) => FakeReply),
): FakeTransport => {
  const requests: UpstreamRequest[] = []
  const bodies: FakeBody[] = []
  return {
    requests,
    bodies,
    async request(request) {
      requests.push(request)
      const reply = typeof replies === 'function' ? replies(request) : replies[requests.length - 1]
      if (!reply) throw new Error(`no fake reply for request ${requests.length}`)
      const bytes = new TextEncoder().encode(reply.body ?? '')
      const chunkSize = reply.chunkSize ?? Math.max(bytes.byteLength, 1)
      const state: FakeBody = { cancelled: false, finished: false, bytesRead: 0 }
      bodies.push(state)
      const body = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            if (state.bytesRead >= bytes.byteLength) {
              state.finished = true
              controller.close()
              return
            }
            const chunk = bytes.slice(state.bytesRead, state.bytesRead + chunkSize)
            state.bytesRead += chunk.byteLength
            controller.enqueue(chunk)
          },
          cancel() {
            state.cancelled = true
          },
        },
        { highWaterMark: 0 },
      )
      return { status: reply.status ?? 200, headers: new Headers(reply.headers), body }
    },
  }
}
