/**
 * A Responses API `Response`'s `status` and `incomplete_details.reason` → canonical finish reason; the raw value is
 * the incomplete reason, else the status. https://platform.openai.com/docs/api-reference/responses/object
 *
 * `completed` is `stop`, or `tool-calls` when the output holds function calls (the API has no finish reason of its
 * own for them); `incomplete` is `length` for `max_output_tokens` and `content-filter` for `content_filter`.
 */
import type { FinishReason } from '../spec/chat-types.ts'

export const mapOpenAIResponsesFinishReason = (
  response: { status?: unknown; incomplete_details?: unknown },
  hasToolCalls: boolean
): FinishReason => {
  const status = typeof response.status === 'string' ? response.status : null
  if (status === 'incomplete') {
    const details = response.incomplete_details as { reason?: unknown } | null | undefined
    const reason = typeof details?.reason === 'string' ? details.reason : null
    if (reason === 'max_output_tokens') return { unified: 'length', raw: reason }
    if (reason === 'content_filter') return { unified: 'content-filter', raw: reason }
    return { unified: 'other', raw: reason ?? status }
  }
  if (status === 'completed' || status === null)
    return { unified: hasToolCalls ? 'tool-calls' : 'stop', raw: status }
  return { unified: 'other', raw: status }
}
