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

  it("adds a compaction's own tokens, which the top-level usage leaves out, and no other iteration's", () => {
    // The compaction docs' example: the summarizing step read 180,000 tokens and wrote 3,500; the answer after it
    // read 23,000 and wrote 1,000. The `message` entry repeats the top-level counts.
    const usage = {
      input_tokens: 23_000,
      output_tokens: 1_000,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
      iterations: [
        {
          type: 'compaction',
          input_tokens: 180_000,
          output_tokens: 3_500,
          cache_read_input_tokens: 0,
          cache_creation_input_tokens: 0,
          cache_creation: null,
        },
        {
          type: 'message',
          input_tokens: 23_000,
          output_tokens: 1_000,
          cache_read_input_tokens: 0,
          cache_creation_input_tokens: 0,
          cache_creation: null,
          model: 'claude-opus-5',
        },
      ],
    }
    expect(convertAnthropicUsage(usage)).toEqual({
      inputTokens: 203_000,
      outputTokens: 4_500,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 0,
      reasoningTokens: null,
    })
    // Its cache reads and writes count as the top-level ones do, the 1-hour ones priced apart.
    expect(
      convertAnthropicUsage({
        input_tokens: 10,
        output_tokens: 5,
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 0,
        iterations: [
          {
            type: 'compaction',
            input_tokens: 1_000,
            output_tokens: 50,
            cache_read_input_tokens: 2_000,
            cache_creation_input_tokens: 300,
            cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
          },
          { type: 'advisor_message', input_tokens: 9_999, output_tokens: 999, model: 'other' },
        ],
      })
    ).toEqual({
      inputTokens: 10 + 100 + 1_000 + 2_000 + 300,
      outputTokens: 55,
      cachedInputTokens: 2_100,
      cacheWriteInputTokens: 300,
      cacheWrite1hInputTokens: 200,
      reasoningTokens: null,
    })
  })

  it('reads the 1-hour share of the cache writes from cache_creation', () => {
    const usage = convertAnthropicUsage({
      input_tokens: 50,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 3000,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      output_tokens: 30,
    })
    expect(usage).toMatchObject({
      inputTokens: 3050,
      cacheWriteInputTokens: 3000,
      cacheWrite1hInputTokens: 2000,
    })
    // Without the total, the split stands for it.
    expect(
      convertAnthropicUsage({
        input_tokens: 50,
        cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      })
    ).toMatchObject({
      inputTokens: 3050,
      cacheWriteInputTokens: 3000,
      cacheWrite1hInputTokens: 2000,
    })
    // Without a split (older API versions, other servers), nothing is said about lifetimes.
    expect(
      convertAnthropicUsage({ input_tokens: 5, cache_creation_input_tokens: 7 })
    ).not.toHaveProperty('cacheWrite1hInputTokens')
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
  it("keeps message_start's cache_creation when message_delta repeats the totals without it", () => {
    const merged = mergeAnthropicUsage(
      {
        input_tokens: 12,
        cache_creation_input_tokens: 300,
        cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
        output_tokens: 1,
      },
      { input_tokens: 12, cache_creation_input_tokens: 300, output_tokens: 40 }
    )
    expect(convertAnthropicUsage(merged)).toMatchObject({
      cacheWriteInputTokens: 300,
      cacheWrite1hInputTokens: 200,
      outputTokens: 40,
    })
  })

  it('overwrites with the later cumulative counts and keeps fields the later one omits', () => {
    expect(
      mergeAnthropicUsage(
        { input_tokens: 12, cache_read_input_tokens: 4, output_tokens: 1 },
        { output_tokens: 30, input_tokens: null }
      )
    ).toEqual({ input_tokens: 12, cache_read_input_tokens: 4, output_tokens: 30 })
  })
})
