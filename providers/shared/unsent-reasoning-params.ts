/**
 * What a target that takes no reasoning setting (`ReasoningControl` `none`, or a control of another provider's kind)
 * leaves out of the client's reasoning, by the canonical parameter names an adapter reports
 * (`CallContext.omittedParams`): `reasoning_effort` for the effort, `thinking` for Anthropic's thinking (its budget
 * included). Asking for no reasoning (`effort: "none"`, `thinking: {type: "disabled"}`) is what such a model does anyway:
 * not left out.
 */
import type { ReasoningRequest } from '../spec/chat-types.ts'

export const unsentReasoningParams = (reasoning: ReasoningRequest | undefined): string[] => {
  if (reasoning === undefined) return []
  const unsent: string[] = []
  if (reasoning.effort !== undefined && reasoning.effort !== 'none') unsent.push('reasoning_effort')
  if (reasoning.thinking !== undefined && reasoning.thinking !== 'disabled') unsent.push('thinking')
  return unsent
}
