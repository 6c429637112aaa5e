import { describe, expect, it } from 'vitest'
import { ProviderError } from '../spec/provider-error.ts'
import { readStreamBytes } from './read-response-bytes.ts'

/** A stream of `count` pieces of `size` bytes, recording whether its reader cancelled it. */
const pieces = (count: number, size: number) => {
  let sent = 0
  const seen = { cancelled: false as boolean, reason: undefined as unknown }
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === count) controller.close()
      else {
        sent += 1
        controller.enqueue(new Uint8Array(size).fill(sent % 256))
      }
    },
    cancel(reason) {
      seen.cancelled = true
      seen.reason = reason
    },
  })
  return { stream, seen, sent: () => sent }
}

describe('readStreamBytes', () => {
  it('reads a stream whole, its pieces in order', async () => {
    const { stream } = pieces(3, 4)
    expect([...(await readStreamBytes(stream))]).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
  })

  it('reads exactly the limit, and fails one byte past it with a bad response (502), the stream cancelled', async () => {
    expect((await readStreamBytes(pieces(4, 256).stream, 1024)).byteLength).toBe(1024)
    const { stream, seen, sent } = pieces(1_000, 256)
    const error = await readStreamBytes(stream, 1024 + 255).then(
      () => undefined,
      (failure: unknown) => failure
    )
    expect(error).toBeInstanceOf(ProviderError)
    expect(error).toMatchObject({ kind: 'bad-response', status: 502 })
    expect(seen.cancelled).toBe(true)
    expect(seen.reason).toBe(error)
    // It stopped at the piece that passed the limit.
    expect(sent()).toBe(5)
  })
})
