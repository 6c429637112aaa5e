/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest'
import errorMidStream from './__fixtures__/anthropic-error-mid-stream.chunks.txt?raw'
import textJson from './__fixtures__/anthropic-text.json?raw'
import thinkingToolsStream from './__fixtures__/anthropic-thinking-tools.chunks.txt?raw'
import truncatedStream from './__fixtures__/anthropic-truncated.chunks.txt?raw'
import { createAnthropicForwardTap } from './create-anthropic-forward-tap.ts'

const feed = (
  text: string,
  chunkSize: number,
  tap = createAnthropicForwardTap({ operation: 'messages', stream: true })
) => {
  const bytes = new TextEncoder().encode(text)
  for (let offset = 0; offset < bytes.byteLength; offset += chunkSize)
    tap.write(bytes.slice(offset, offset + chunkSize))
  return tap.finish()
}

describe('createAnthropicForwardTap', () => {
  it('reads model and cumulative usage from a stream split at awkward boundaries', () => {
    expect(feed(thinkingToolsStream, 3)).toEqual({
      model: 'claude-sonnet-4-6',
      usage: {
        inputTokens: 599 + 1024 + 256,
        outputTokens: 112,
        cachedInputTokens: 1024,
        cacheWriteInputTokens: 256,
        cacheWrite1hInputTokens: 0,
        reasoningTokens: 18,
      },
      outputTokensSeen: 30,
    })
  })

  it('reports an error event and keeps the usage known so far', () => {
    const summary = feed(errorMidStream, 11)
    expect(summary.error).toEqual({ message: 'Overloaded', type: 'overloaded_error' })
    // No `message_delta` came: the output count is unknown, not `message_start`'s placeholder of 1.
    expect(summary.usage).toMatchObject({ inputTokens: 25, outputTokens: null })
  })

  it("reports the output of a stream cut before message_delta as unknown, not message_start's placeholder", () => {
    const cutAt = thinkingToolsStream.indexOf('event: message_delta')
    expect(cutAt).toBeGreaterThan(0)
    const summary = feed(thinkingToolsStream.slice(0, cutAt), 7)
    expect(summary.usage).toMatchObject({
      inputTokens: 599 + 1024 + 256,
      outputTokens: null,
      cachedInputTokens: 1024,
    })
  })

  it('reads the same from the whole stream in one chunk, from \\r\\n framing and from 1-byte chunks', () => {
    const expected = feed(thinkingToolsStream, 3)
    expect(feed(thinkingToolsStream, thinkingToolsStream.length)).toEqual(expected)
    expect(feed(thinkingToolsStream.replaceAll('\n', '\r\n'), 7)).toEqual(expected)
    expect(feed(thinkingToolsStream, 1)).toEqual(expected)
  })

  it('is not misled by content that mentions event names, and counts each message_start once', () => {
    const mention = (text: string) =>
      `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })}\n\n`
    const [start, ...rest] = thinkingToolsStream.split(/(?<=\n\n)/)
    const stream = [
      start,
      mention('event: error'),
      mention('send message_start then message_delta'),
      ...rest,
    ].join('')
    const { outputTokensSeen, ...summary } = feed(stream, 5)
    const { outputTokensSeen: seenBefore, ...before } = feed(thinkingToolsStream, 5)
    expect(summary).toEqual(before)
    // The mentions are text the model sent: 12 and 37 more ASCII characters than the stream's 117, at 4 a token.
    expect(seenBefore).toBe(Math.ceil(117 / 4))
    expect(outputTokensSeen).toBe(Math.ceil((117 + 12 + 37) / 4))
  })

  describe('the output tokens a stream carried (`outputTokensSeen`), weighed from its deltas', () => {
    /** The oracle: every delta's text, parsed whole. */
    const deltaTexts = (text: string): string[] =>
      text
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data: {"type":"content_block_delta"'))
        .map((line) => {
          const delta = JSON.parse(line.slice(6)).delta
          return delta.text ?? delta.thinking ?? delta.partial_json ?? ''
        })

    it('weighs thinking, text and tool input, not signatures, however the stream is split', () => {
      const texts = deltaTexts(thinkingToolsStream)
      const all = texts.join('')
      // 117 ASCII characters (4 a token, `estimateTextTokens`): the signature's are not among them.
      expect(all).toMatch(/^[\x20-\x7e]{117}$/)
      expect(all).not.toContain('EqQBCkgIARABGAIiQL2p3sig')
      for (const size of [1, 2, 7, 64, thinkingToolsStream.length])
        expect(feed(thinkingToolsStream, size).outputTokensSeen).toBe(30)
      expect(feed(thinkingToolsStream.replaceAll('\n', '\r\n'), 5).outputTokensSeen).toBe(30)
      // A JSON body is not weighed: its usage is there.
      const json = createAnthropicForwardTap({ operation: 'messages', stream: false })
      expect(feed(textJson, 50, json)).not.toHaveProperty('outputTokensSeen')
    })

    it('weighs a stream cut before its usage (the client left, the upstream cut it) from what passed', () => {
      // Two text deltas, then the end: "Hello" and "! I'm doing well, thank you — " (34 ASCII characters and a dash
      // beyond U+0800, weighed as a token: 38 quarters).
      expect(deltaTexts(truncatedStream).join('')).toBe("Hello! I'm doing well, thank you — ")
      for (const size of [1, 3, 4096]) {
        const summary = feed(truncatedStream, size)
        expect(summary.usage).toMatchObject({ outputTokens: null })
        expect(summary.outputTokensSeen).toBe(10)
      }
      // Cut inside the second delta's JSON: only the first passed whole.
      const second = truncatedStream.lastIndexOf('thank you')
      expect(feed(truncatedStream.slice(0, second), 4).outputTokensSeen).toBe(2)
    })

    it('weighs many small deltas together, not one token for each fraction of one', () => {
      const delta = (text: string) =>
        `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })}\n\n`
      const [start] = thinkingToolsStream.split(/(?<=\n\n)/)
      // 100 deltas of 5 characters: 500 characters, 125 tokens (each weighed alone, 200).
      const text = start + delta(' word').repeat(100)
      expect(feed(text, 13).outputTokensSeen).toBe(125)
    })
  })

  it('reads an error event that ends the stream without its blank line', () => {
    expect(feed(errorMidStream.trimEnd(), 13).error).toEqual({
      message: 'Overloaded',
      type: 'overloaded_error',
    })
  })

  it('reads usage from a JSON body', () => {
    const tap = createAnthropicForwardTap({ operation: 'messages', stream: false })
    expect(feed(textJson, 50, tap)).toEqual({
      model: 'claude-sonnet-4-5-20250929',
      usage: {
        inputTokens: 10,
        outputTokens: 12,
        cachedInputTokens: 0,
        cacheWriteInputTokens: 0,
        cacheWrite1hInputTokens: 0,
        reasoningTokens: null,
      },
    })
  })

  it('records no usage for count_tokens, and never throws on garbage', () => {
    expect(
      feed(
        '{"input_tokens":2095}',
        4,
        createAnthropicForwardTap({ operation: 'count-tokens', stream: false })
      )
    ).toEqual({
      usage: null,
    })
    expect(
      feed('{"truncated', 4, createAnthropicForwardTap({ operation: 'messages', stream: false }))
    ).toEqual({ usage: null })
    expect(
      feed('event: message_start\ndata: {nope\n\nevent: message_delta\ndata: []\n\n', 5)
    ).toEqual({ usage: null, model: undefined, outputTokensSeen: 0 })
  })

  it('gives up on usage for a JSON body beyond 8 MiB instead of holding it', () => {
    const tap = createAnthropicForwardTap({ operation: 'messages', stream: false })
    const big = new Uint8Array(1024 * 1024).fill(32)
    for (let index = 0; index < 9; index++) tap.write(big)
    tap.write(new TextEncoder().encode(textJson))
    expect(tap.finish()).toEqual({ usage: null })
  })

  it('never throws for an event past the parser bound, and reads the usage after it', () => {
    const tap = createAnthropicForwardTap({ operation: 'messages', stream: true })
    const [start, ...rest] = thinkingToolsStream.split(/(?<=\n\n)/)
    tap.write(new TextEncoder().encode(start))
    const huge = new TextEncoder().encode(`event: ping\ndata: ${'x'.repeat(17 * 1024 * 1024)}`)
    expect(() => tap.write(huge)).not.toThrow()
    tap.write(new TextEncoder().encode('\n\n' + rest.join('')))
    expect(tap.finish().usage).toMatchObject({ outputTokens: 112 })
  })
})
