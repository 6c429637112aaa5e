import { describe, expect, it } from 'vitest'
import type { BodySource } from '../api/response-body.ts'
import { nodeStreamBody } from './node-stream-body.ts'

const encoder = new TextEncoder()

const sourceOf = (pieces: string[]): BodySource & { cancelled: unknown[] } => {
  const queue = pieces.map((piece) => encoder.encode(piece))
  const cancelled: unknown[] = []
  return {
    cancelled,
    pull: async () => queue.shift() ?? null,
    cancel: async (reason) => {
      cancelled.push(reason)
    },
  }
}

type Reader = {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>
  cancel(reason?: unknown): Promise<void>
  closed: Promise<void>
}

describe('nodeStreamBody', () => {
  it('reads piece by piece through getReader, then done; closed resolves at the end', async () => {
    const body = nodeStreamBody(sourceOf(['data: 1\n\n', 'data: 2\n\n']))
    expect(body.locked).toBe(false)
    const reader = body.getReader() as unknown as Reader
    expect(body.locked).toBe(true)
    expect(() => body.getReader()).toThrow(TypeError)
    const texts: string[] = []
    for (let step = await reader.read(); !step.done; step = await reader.read())
      texts.push(new TextDecoder().decode(step.value))
    expect(texts).toEqual(['data: 1\n\n', 'data: 2\n\n'])
    await reader.closed
    expect(await reader.read()).toEqual({ done: true, value: undefined })
  })

  it('cancels the source once when the reader is cancelled (the client went away), and reads nothing after', async () => {
    const source = sourceOf(['a', 'b', 'c'])
    const reader = nodeStreamBody(source).getReader() as unknown as Reader
    await reader.read()
    const reason = new Error('client closed')
    await reader.cancel(reason)
    await reader.cancel(reason)
    await reader.closed
    expect(source.cancelled).toEqual([reason])
    expect(await reader.read()).toEqual({ done: true, value: undefined })
  })

  it("becomes a real Response body when something asks for one (Node's Response takes an async iterable)", async () => {
    const body = nodeStreamBody(sourceOf(['{"a":', '1}']))
    expect(await new Response(body).json()).toEqual({ a: 1 })
  })

  it('cancels the source when an iteration stops early', async () => {
    const source = sourceOf(['a', 'b', 'c'])
    for await (const piece of nodeStreamBody(source) as unknown as AsyncIterable<Uint8Array>) {
      expect(new TextDecoder().decode(piece)).toBe('a')
      break
    }
    expect(source.cancelled).toHaveLength(1)
  })
})
