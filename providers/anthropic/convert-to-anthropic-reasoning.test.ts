import { describe, expect, it } from 'vitest'
import type { ChatRequest } from '../spec/chat-types.ts'
import { convertToAnthropicReasoning } from './convert-to-anthropic-reasoning.ts'

const request = (overrides: Partial<ChatRequest>): ChatRequest => ({
  model: 'claude-x',
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
  maxTokens: 32000,
  stream: false,
  ...overrides,
})

describe('convertToAnthropicReasoning', () => {
  it('gives an `effort` model adaptive thinking and the effort, `minimal` as `low`', () => {
    expect(
      convertToAnthropicReasoning(request({ reasoning: { effort: 'high' } }), 'effort')
    ).toEqual({
      thinking: { type: 'adaptive' },
      effort: 'high',
      omitted: [],
    })
    expect(
      convertToAnthropicReasoning(request({ reasoning: { effort: 'minimal' } }), 'effort').effort
    ).toBe('low')
    expect(
      convertToAnthropicReasoning(
        request({ reasoning: { thinking: 'enabled', budgetTokens: 10000 } }),
        'effort'
      )
    ).toEqual({ thinking: { type: 'adaptive' }, effort: 'medium', omitted: [] })
  })

  it('turns thinking off for effort `none` or thinking disabled', () => {
    for (const control of ['effort', 'budget'] as const) {
      expect(
        convertToAnthropicReasoning(request({ reasoning: { effort: 'none' } }), control)
      ).toEqual({ thinking: { type: 'disabled' }, omitted: [] })
      expect(
        convertToAnthropicReasoning(request({ reasoning: { thinking: 'disabled' } }), control)
      ).toEqual({ thinking: { type: 'disabled' }, omitted: [] })
    }
  })

  it('gives a `budget` model a budget from its effort, below max_tokens, or none when there is no room', () => {
    const budgetOf = (
      effort: 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max',
      maxTokens = 100_000
    ) =>
      convertToAnthropicReasoning(request({ reasoning: { effort }, maxTokens }), 'budget').thinking
    expect(budgetOf('minimal')).toEqual({ type: 'enabled', budget_tokens: 1024 })
    expect(budgetOf('low')).toEqual({ type: 'enabled', budget_tokens: 2048 })
    expect(budgetOf('medium')).toEqual({ type: 'enabled', budget_tokens: 8192 })
    expect(budgetOf('high')).toEqual({ type: 'enabled', budget_tokens: 16384 })
    expect(budgetOf('xhigh')).toEqual({ type: 'enabled', budget_tokens: 32768 })
    expect(budgetOf('max')).toEqual({ type: 'enabled', budget_tokens: 65536 })
    expect(budgetOf('high', 4000)).toEqual({ type: 'enabled', budget_tokens: 3999 })
    expect(
      convertToAnthropicReasoning(
        request({ reasoning: { effort: 'high' }, maxTokens: 1024 }),
        'budget'
      )
    ).toEqual({ omitted: ['reasoning_effort'] })
    expect(
      convertToAnthropicReasoning(
        request({ reasoning: { thinking: 'enabled', budgetTokens: 3000 } }),
        'budget'
      ).thinking
    ).toEqual({ type: 'enabled', budget_tokens: 3000 })
  })

  it('sends no thinking beside a forced tool choice or changed sampling; an `effort` model keeps its effort', () => {
    for (const overrides of [
      { toolChoice: { type: 'required' as const } },
      { toolChoice: { type: 'tool' as const, name: 'f' } },
      { temperature: 0.2 },
      { topK: 5 },
    ]) {
      expect(
        convertToAnthropicReasoning(
          request({ reasoning: { effort: 'high' }, ...overrides }),
          'effort'
        )
      ).toEqual({ effort: 'high', omitted: [] })
      expect(
        convertToAnthropicReasoning(
          request({ reasoning: { effort: 'high' }, ...overrides }),
          'budget'
        )
      ).toEqual({ omitted: ['reasoning_effort'] })
    }
    expect(
      convertToAnthropicReasoning(
        request({ reasoning: { effort: 'high' }, toolChoice: { type: 'auto' } }),
        'effort'
      ).thinking
    ).toEqual({ type: 'adaptive' })
  })

  it('sends nothing to a model without thinking, naming what asked for reasoning', () => {
    for (const control of ['none', 'openai'] as const) {
      expect(
        convertToAnthropicReasoning(
          request({ reasoning: { effort: 'high', thinking: 'adaptive' } }),
          control
        )
      ).toEqual({ omitted: ['reasoning_effort', 'thinking'] })
      expect(
        convertToAnthropicReasoning(request({ reasoning: { effort: 'none' } }), control)
      ).toEqual({
        omitted: [],
      })
    }
    expect(convertToAnthropicReasoning(request({}), 'effort')).toEqual({ omitted: [] })
  })
})
