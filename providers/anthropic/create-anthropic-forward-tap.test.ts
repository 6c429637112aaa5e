/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest'
import errorMidStream from './__fixtures__/anthropic-error-mid-stream.chunks.txt?raw'
import textJson from './__fixtures__/anthropic-text.json?raw'
import thinkingToolsStream from './__fixtures__/anthropic-thinking-tools.chunks.txt?raw'
import { createAnthropicForwardTap } from './create-anthropic-forward-tap.ts'

const feed = (text: string, chunkSize: number, tap = createAnthropicForwardTap({ operation: 'chat', stream: true })) => {
  const bytes = new TextEncoder().encode(text)
  for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) tap.write(bytes.slice(offset, offset + chunkSize))
  return tap.finish()
}

describe('createAnthropicForwardTap', () => {
  it('reads model and cumulative usage from a stream split at awkward boundaries', () => {
    expect(feed(thinkingToolsStream, 3)).toEqual({
      model: 'claude-sonnet-4-6',
      usage: { inputTokens: 599 + 1024 + 256, outputTokens: 112, cachedInputTokens: 1024, cacheWriteInputTokens: 256, reasoningTokens: 18 },
    })
  })

  it('reports an error event and keeps the usage known so far', () => {
    const summary = feed(errorMidStream, 11)
    expect(summary.error).toEqual({ message: 'Overloaded', type: 'overloaded_error' })
    expect(summary.usage).toMatchObject({ inputTokens: 25, outputTokens: 1 })
  })

  it('reads usage from a JSON body', () => {
    const tap = createAnthropicForwardTap({ operation: 'chat', stream: false })
    expect(feed(textJson, 50, tap)).toEqual({
      model: 'claude-sonnet-4-5-20250929',
      usage: { inputTokens: 10, outputTokens: 12, cachedInputTokens: 0, cacheWriteInputTokens: 0, reasoningTokens: null },
    })
  })

  it('records no usage for count_tokens, and never throws on garbage', () => {
    expect(feed('{"input_tokens":2095}', 4, createAnthropicForwardTap({ operation: 'count-tokens', stream: false }))).toEqual({
      usage: null,
    })
    expect(feed('{"truncated', 4, createAnthropicForwardTap({ operation: 'chat', stream: false }))).toEqual({ usage: null })
    expect(feed('event: message_start\ndata: {nope\n\nevent: message_delta\ndata: []\n\n', 5)).toEqual({ usage: null, model: undefined })
  })

  it('gives up on usage for a JSON body beyond 8 MiB instead of holding it', () => {
    const tap = createAnthropicForwardTap({ operation: 'chat', stream: false })
    const big = new Uint8Array(1024 * 1024).fill(32)
    for (let index = 0; index < 9; index++) tap.write(big)
    tap.write(new TextEncoder().encode(textJson))
    expect(tap.finish()).toEqual({ usage: null })
  })
})
