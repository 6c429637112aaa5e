import { describe, expect, it } from 'vitest'
import type { ChatRequest, ReasoningRequest } from '../spec/chat-types.ts'
import { convertToOpenAIReasoningEffort } from './convert-to-openai-reasoning-effort.ts'

const withReasoning = (reasoning?: ReasoningRequest): ChatRequest => ({
  model: 'gpt-5',
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
  stream: false,
  ...(reasoning === undefined ? {} : { reasoning }),
})

describe('convertToOpenAIReasoningEffort', () => {
  it('sends the effort as asked to an `openai` model', () => {
    for (const effort of ['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'] as const)
      expect(convertToOpenAIReasoningEffort(withReasoning({ effort }), 'openai')).toEqual({
        effort,
        omitted: [],
      })
    expect(
      convertToOpenAIReasoningEffort(
        withReasoning({ effort: 'high', thinking: 'adaptive' }),
        'openai'
      )
    ).toEqual({ effort: 'high', omitted: [] })
  })

  it('derives an effort from an Anthropic thinking budget: under 4096 low, under 16384 medium, else high', () => {
    const effortOf = (budgetTokens: number) =>
      convertToOpenAIReasoningEffort(withReasoning({ thinking: 'enabled', budgetTokens }), 'openai')
        .effort
    expect([
      effortOf(1024),
      effortOf(4095),
      effortOf(4096),
      effortOf(16383),
      effortOf(16384),
    ]).toEqual(['low', 'low', 'medium', 'medium', 'high'])
  })

  it('sends nothing for adaptive thinking, and names disabled thinking as left out', () => {
    expect(
      convertToOpenAIReasoningEffort(withReasoning({ thinking: 'adaptive' }), 'openai')
    ).toEqual({
      omitted: [],
    })
    expect(
      convertToOpenAIReasoningEffort(withReasoning({ thinking: 'disabled' }), 'openai')
    ).toEqual({
      omitted: ['thinking'],
    })
  })

  it('sends nothing to a model of another control, naming what asked for reasoning', () => {
    for (const control of ['none', 'effort', 'budget'] as const)
      expect(
        convertToOpenAIReasoningEffort(
          withReasoning({ effort: 'high', thinking: 'adaptive' }),
          control
        )
      ).toEqual({ omitted: ['reasoning_effort', 'thinking'] })
    expect(convertToOpenAIReasoningEffort(withReasoning(), 'none')).toEqual({ omitted: [] })
  })
})
