/**
 * The client's reasoning (`ChatRequest.reasoning`) as an OpenAI model takes it: `reasoning_effort` (Chat Completions)
 * or `reasoning.effort` (the Responses API), openai SDK `ReasoningEffort`, for a model whose control is `openai`
 * (OpenAI's reasoning models; any model the table does not know, for the upstream to judge, as a forwarded request's
 * would be). The effort goes as asked; an Anthropic thinking budget without an effort becomes the nearest effort
 * (`effortOfThinkingBudget`). Adaptive thinking without an effort is what a reasoning model does by itself: nothing
 * to send. Thinking disabled without an effort has no setting every reasoning model takes: nothing sent, reported
 * left out. A model of another control (`none`, or Anthropic's) gets nothing, and what asked for reasoning is reported
 * left out.
 */
import type { ChatRequest, ReasoningControl, ReasoningEffort } from '../spec/chat-types.ts'
import { effortOfThinkingBudget } from '../shared/effort-of-thinking-budget.ts'
import { unsentReasoningParams } from '../shared/unsent-reasoning-params.ts'

export const convertToOpenAIReasoningEffort = (
  request: ChatRequest,
  control: ReasoningControl
): { effort?: ReasoningEffort; omitted: string[] } => {
  const reasoning = request.reasoning
  if (reasoning === undefined) return { omitted: [] }
  if (control !== 'openai') return { omitted: unsentReasoningParams(reasoning) }
  if (reasoning.effort !== undefined) return { effort: reasoning.effort, omitted: [] }
  if (reasoning.thinking === 'enabled' && reasoning.budgetTokens !== undefined)
    return { effort: effortOfThinkingBudget(reasoning.budgetTokens), omitted: [] }
  return { omitted: reasoning.thinking === 'disabled' ? ['thinking'] : [] }
}
