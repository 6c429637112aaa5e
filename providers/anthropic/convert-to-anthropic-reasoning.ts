/**
 * The client's reasoning (`ChatRequest.reasoning`) as an Anthropic model takes it, by the model's reasoning control
 * (`ReasoningControl`; wire types: @anthropic-ai/sdk `ThinkingConfigParam`, `OutputConfig`):
 * - `effort` models (adaptive thinking): an effort becomes `thinking: {type: "adaptive"}` and `output_config.effort`
 *   (`minimal` as `low`, the least Anthropic has); a thinking budget without an effort becomes the nearest effort
 *   (`effortOfThinkingBudget`);
 * - `budget` models (extended thinking): `thinking: {type: "enabled", budget_tokens}`, the client's own budget, or one
 *   from its effort: minimal 1,024, low 2,048, medium 8,192, high 16,384, xhigh 32,768, max 65,536 tokens, kept
 *   strictly below `max_tokens` (the API's rule); when `max_tokens` leaves no room for the least budget (1,024),
 *   thinking stays off and the effort is reported left out;
 * - effort `none` (or thinking disabled without an effort): `thinking: {type: "disabled"}`;
 * - any other control (`none`, `openai`): nothing sent, what asked for reasoning reported left out.
 * Anthropic refuses thinking beside a forced tool choice (`any`, `tool`), a temperature other than 1, `top_k`, or a
 * `top_p` under 0.95: then no `thinking` goes (an `effort` model still gets its `output_config.effort`), and an asked
 * thinking or an effort that reaches the model no other way is reported left out.
 * https://platform.claude.com/docs/en/build-with-claude/extended-thinking, .../adaptive-thinking, .../effort
 */
import type { ChatRequest, ReasoningControl, ReasoningEffort } from '../spec/chat-types.ts'
import { effortOfThinkingBudget } from '../shared/effort-of-thinking-budget.ts'
import { unsentReasoningParams } from '../shared/unsent-reasoning-params.ts'

export type AnthropicEffort = 'low' | 'medium' | 'high' | 'xhigh' | 'max'

export type AnthropicReasoning = {
  thinking?: Record<string, unknown>
  /** For `output_config.effort`. */
  effort?: AnthropicEffort
  /** Canonical names of what the client asked and the model does not get (`CallContext.omittedParams`). */
  omitted: string[]
}

const budgetOfEffort: Record<Exclude<ReasoningEffort, 'none'>, number> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16_384,
  xhigh: 32_768,
  max: 65_536,
}

/** Anthropic's least thinking budget. */
const minimumBudget = 1024

/** Anthropic refuses thinking together with these (extended-thinking guide, "Feature compatibility"). */
const thinkingRefused = (request: ChatRequest): boolean =>
  request.toolChoice?.type === 'required' ||
  request.toolChoice?.type === 'tool' ||
  (request.temperature !== undefined && request.temperature !== 1) ||
  request.topK !== undefined ||
  (request.topP !== undefined && request.topP < 0.95)

export const convertToAnthropicReasoning = (
  request: ChatRequest,
  control: ReasoningControl
): AnthropicReasoning => {
  const reasoning = request.reasoning
  if (reasoning === undefined) return { omitted: [] }
  if (control !== 'effort' && control !== 'budget')
    return { omitted: unsentReasoningParams(reasoning) }
  const { effort, thinking, budgetTokens } = reasoning
  const refused = thinkingRefused(request)
  if (effort === 'none' || (effort === undefined && thinking === 'disabled'))
    return refused ? { omitted: [] } : { thinking: { type: 'disabled' }, omitted: [] }
  if (control === 'effort') {
    const wanted =
      effort ??
      (thinking === 'enabled' && budgetTokens !== undefined
        ? effortOfThinkingBudget(budgetTokens)
        : undefined)
    const mapped = wanted === 'minimal' ? 'low' : wanted
    if (refused)
      return {
        ...(mapped === undefined ? {} : { effort: mapped }),
        omitted: thinking === undefined ? [] : ['thinking'],
      }
    return {
      thinking: { type: 'adaptive' },
      ...(mapped === undefined ? {} : { effort: mapped }),
      omitted: [],
    }
  }
  const asked = unsentReasoningParams(reasoning)
  if (refused) return { omitted: asked }
  let budget: number | undefined
  if (thinking === 'enabled' && budgetTokens !== undefined) budget = budgetTokens
  else if (effort !== undefined)
    budget = Math.min(budgetOfEffort[effort], (request.maxTokens ?? 0) - 1)
  if (budget === undefined || budget < minimumBudget) return { omitted: asked }
  return { thinking: { type: 'enabled', budget_tokens: budget }, omitted: [] }
}
