import { describe, expect, it } from 'vitest'
import { readCappedText } from './read-capped-text.ts'

const streamOf = (
  chunks: string[]
): { body: ReadableStream<Uint8Array>; state: { cancelled: boolean; pulled: number } } => {
  const state = { cancelled: false, pulled: 0 }
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (state.pulled === chunks.length) return controller.close()
        controller.enqueue(encoder.encode(chunks[state.pulled++]))
      },
      cancel() {
        state.cancelled = true
      },
    },
    { highWaterMark: 0 }
  )
  return { body, state }
}

describe('readCappedText', () => {
  it('reads a small body whole, multi-byte characters split across chunks included', async () => {
    const bytes = new TextEncoder().encode('héllo')
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 2))
        controller.enqueue(bytes.slice(2))
        controller.close()
      },
    })
    expect(await readCappedText(body, 1024)).toEqual({ text: 'héllo', truncated: false })
  })

  it('stops at the cap and cancels the rest of the body', async () => {
    const { body, state } = streamOf(['aaaa', 'bbbb', 'cccc', 'dddd'])
    expect(await readCappedText(body, 6)).toEqual({ text: 'aaaabb', truncated: true })
    expect(state.cancelled).toBe(true)
    expect(state.pulled).toBeLessThan(4)
  })

  it('returns what it read when the body fails', async () => {
    let sent = false
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new Error('reset'))
        sent = true
        controller.enqueue(new TextEncoder().encode('partial'))
      },
    })
    expect(await readCappedText(body, 1024)).toEqual({ text: 'partial', truncated: true })
  })
})
