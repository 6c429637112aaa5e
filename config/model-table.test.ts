import { describe, expect, it } from 'vitest'
import { builtInModelApi, builtInReasoningControl, modelMaxOutputTokens } from './model-table.ts'

describe('modelMaxOutputTokens', () => {
  it.each([
    ['claude-3-haiku-20240307', 4096],
    ['claude-3-opus-latest', 4096],
    ['claude-3-5-sonnet-20241022', 8192],
    ['claude-3-5-haiku-latest', 8192],
    ['claude-3-7-sonnet-20250219', 64_000],
    ['claude-sonnet-4-20250514', 64_000],
    ['claude-sonnet-4-0', 64_000],
    ['claude-sonnet-4-5', 64_000],
    ['claude-sonnet-4-5-20250929', 64_000],
    ['claude-opus-4-20250514', 32_000],
    ['claude-opus-4-0', 32_000],
    ['claude-opus-4-1-20250805', 32_000],
    ['claude-opus-4-5-20251101', 64_000],
    ['claude-opus-4-7', 64_000],
    ['claude-haiku-4-5-20251001', 64_000],
    ['claude-3-5-sonnet-v2@20241022', 8192],
    ['claude-opus-4-6', 128_000],
    ['claude-opus-4-8', 128_000],
    ['claude-sonnet-4-6', 128_000],
    ['claude-opus-5', 128_000],
    ['claude-opus-5-5', 128_000],
    ['claude-opus-5-5-20260922', 128_000],
    ['claude-sonnet-5', 128_000],
    ['claude-sonnet-5-5', 128_000],
    ['claude-haiku-5-5', 128_000],
    ['claude-fable-5', 128_000],
    ['claude-fable-5-1', 128_000],
    ['claude-fable-5-1@20260901', 128_000],
    ['claude-mythos-5', 128_000],
  ])('%s → %d', (model, expected) => {
    expect(modelMaxOutputTokens(model)).toBe(expected)
  })

  it('does not confuse Opus 4 (32k) with Opus 4.5 (64k) despite the shared prefix', () => {
    expect(modelMaxOutputTokens('claude-opus-4')).toBe(32_000)
    expect(modelMaxOutputTokens('claude-opus-4-5')).toBe(64_000)
  })

  it('knows nothing about other models', () => {
    expect(modelMaxOutputTokens('gpt-4o-mini')).toBeUndefined()
    expect(modelMaxOutputTokens('claude-instant-1.2')).toBeUndefined()
    expect(modelMaxOutputTokens('claude-3-5-sonnet-extra')).toBeUndefined()
    // A version not yet listed is unknown, not its neighbour's limit.
    expect(modelMaxOutputTokens('claude-opus-4-10')).toBeUndefined()
    expect(modelMaxOutputTokens('claude-sonnet-4-7')).toBeUndefined()
    expect(modelMaxOutputTokens('claude-fable-5-2')).toBeUndefined()
    expect(modelMaxOutputTokens('claude-sonnet-5-6')).toBeUndefined()
    expect(modelMaxOutputTokens('')).toBeUndefined()
  })
})

describe('builtInModelApi', () => {
  it.each([
    'o1-pro',
    'o1-pro-2025-03-19',
    'o3-pro',
    'o3-pro-2025-06-10',
    'gpt-5-pro',
    'gpt-5-pro-2025-10-06',
    'gpt-5.2-pro',
    'gpt-5.4-pro',
    'gpt-5.4-pro-2026-03-05',
    'codex-mini-latest',
    'gpt-5-codex',
    'gpt-5.1-codex',
    'gpt-5.1-codex-mini',
    'gpt-5.1-codex-max',
  ])('%s is served through the Responses API only', (model) => {
    expect(builtInModelApi(model)).toBe('responses')
  })

  it.each([
    'gpt-4o',
    'o3',
    'o1',
    'o4-mini',
    'gpt-5',
    'gpt-5.1',
    'gpt-5-mini',
    'gpt-6-sol',
    'claude-opus-4-7',
  ])('%s keeps Chat Completions', (model) => {
    expect(builtInModelApi(model)).toBe('chat')
  })
})

describe('builtInReasoningControl', () => {
  it.each([
    ['claude-3-5-sonnet-20241022', 'none'],
    ['claude-3-haiku-20240307', 'none'],
    ['claude-3-7-sonnet-20250219', 'budget'],
    ['claude-sonnet-4-20250514', 'budget'],
    ['claude-sonnet-4-5', 'budget'],
    ['claude-opus-4-1-20250805', 'budget'],
    ['claude-haiku-4-5-20251001', 'budget'],
    ['claude-opus-4-6', 'effort'],
    ['claude-sonnet-4-6', 'effort'],
    ['claude-opus-4-7', 'effort'],
    ['claude-opus-5', 'effort'],
    ['gpt-4o', 'none'],
    ['gpt-4o-mini-2024-07-18', 'none'],
    ['gpt-4.1-nano', 'none'],
    ['gpt-3.5-turbo', 'none'],
    ['o1-mini', 'none'],
    ['o1', 'openai'],
    ['o3-mini', 'openai'],
    ['o4-mini-2025-04-16', 'openai'],
    ['gpt-5', 'openai'],
    ['gpt-5-mini', 'openai'],
    ['gpt-5.1-codex-max', 'openai'],
    ['gpt-5-chat-latest', 'none'],
    ['codex-mini-latest', 'openai'],
    ['llama-3.1-8b', undefined],
    ['claude-next', undefined],
  ])('%s takes %s', (model, control) => {
    expect(builtInReasoningControl(model)).toBe(control)
  })
})
