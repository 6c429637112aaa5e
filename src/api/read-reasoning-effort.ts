/**
 * A client's reasoning effort (OpenAI `reasoning_effort`, Responses `reasoning.effort`, Anthropic
 * `output_config.effort`) as the canonical one. `null` and absent are "not asked"; a value outside the dialect's own
 * list is a 400 naming the field, as the API would answer it.
 */
import type { ReasoningEffort } from '../../providers/spec/chat-types.ts'
import { invalidRequest } from '../core/errors.ts'

/** OpenAI's `ReasoningEffort` (openai SDK `shared.d.ts`). */
export const openAIReasoningEfforts: readonly ReasoningEffort[] = [
  'none',
  'minimal',
  'low',
  'medium',
  'high',
  'xhigh',
  'max',
]

/** Anthropic's `OutputConfig.effort` (@anthropic-ai/sdk `messages.d.ts`). */
export const anthropicReasoningEfforts: readonly ReasoningEffort[] = [
  'low',
  'medium',
  'high',
  'xhigh',
  'max',
]

export const readReasoningEffort = (
  value: unknown,
  options: {
    param: string
    allowed: readonly ReasoningEffort[]
    error?: (message: string, param: string) => Error
  }
): ReasoningEffort | undefined => {
  if (value === undefined || value === null) return undefined
  const effort = options.allowed.find((allowed) => allowed === value)
  if (effort !== undefined) return effort
  throw (options.error ?? invalidRequest)(
    `\`${options.param}\` must be one of ${options.allowed.join(', ')}.`,
    options.param
  )
}
