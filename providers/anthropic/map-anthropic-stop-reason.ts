import type { FinishReason } from '../spec/chat-types.ts'

/**
 * Anthropic `stop_reason` → canonical finish reason (wire-notes §4.2; https://docs.claude.com/en/api/handling-stop-reasons).
 * `pause_turn` maps to `stop` although the turn is unfinished: Chat Completions has no way to say "resend to continue".
 */
export const mapAnthropicStopReason = (raw: string | null | undefined): FinishReason => {
  switch (raw) {
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return { unified: 'stop', raw }
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return { unified: 'length', raw }
    case 'tool_use':
      return { unified: 'tool-calls', raw }
    case 'refusal':
      return { unified: 'content-filter', raw }
    default:
      return { unified: 'other', raw: raw ?? null }
  }
}
