/**
 * The reasoning effort nearest an Anthropic thinking budget (`thinking.budget_tokens`), for a target that takes an
 * effort rather than a budget. The thresholds mirror the budgets `convertToAnthropicReasoning` gives each effort
 * (low 2,048, medium 8,192, high 16,384): under 4,096 tokens is `low`, under 16,384 `medium`, from 16,384 `high`.
 * `xhigh` and `max` are never derived: not every reasoning model takes them.
 */
import type { ReasoningEffort } from '../spec/chat-types.ts'

export const effortOfThinkingBudget = (
  budgetTokens: number
): Extract<ReasoningEffort, 'low' | 'medium' | 'high'> => {
  if (budgetTokens < 4096) return 'low'
  if (budgetTokens < 16_384) return 'medium'
  return 'high'
}
