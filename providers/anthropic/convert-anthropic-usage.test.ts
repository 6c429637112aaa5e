import { describe, expect, it } from 'vitest'
import { convertAnthropicUsage, mergeAnthropicUsage } from './convert-anthropic-usage.ts'

describe('convertAnthropicUsage', () => {
  it('adds cache reads and writes back into inputTokens', () => {
    expect(
      convertAnthropicUsage({
        input_tokens: 50,
        cache_read_input_tokens: 1000,
        cache_creation_input_tokens: 200,
        output_tokens: 30,
        output_tokens_details: { thinking_tokens: 12 },
      })
    ).toEqual({
      inputTokens: 1250,
      outputTokens: 30,
      cachedInputTokens: 1000,
      cacheWriteInputTokens: 200,
      reasoningTokens: 12,
    })
  })

  it('keeps unknown counts null instead of 0', () => {
    expect(convertAnthropicUsage({ output_tokens: 3 })).toEqual({
      inputTokens: null,
      outputTokens: 3,
      cachedInputTokens: null,
      cacheWriteInputTokens: null,
      reasoningTokens: null,
    })
    expect(
      convertAnthropicUsage({ input_tokens: 7, cache_read_input_tokens: null }).inputTokens
    ).toBe(7)
  })
})

describe('mergeAnthropicUsage', () => {
  it('overwrites with the later cumulative counts and keeps fields the later one omits', () => {
    expect(
      mergeAnthropicUsage(
        { input_tokens: 12, cache_read_input_tokens: 4, output_tokens: 1 },
        { output_tokens: 30, input_tokens: null }
      )
    ).toEqual({ input_tokens: 12, cache_read_input_tokens: 4, output_tokens: 30 })
  })
})
