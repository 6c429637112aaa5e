/**
 * The labels a request's usage is grouped by, besides its tenant and key: the end user and the tags. The user is
 * `x-gatehouse-user` when the application sets it, else what the client's API already carries for it (OpenAI's
 * `user`, or its newer `safety_identifier`; Anthropic's `metadata.user_id`). Tags come from `x-gatehouse-tags`,
 * comma-separated. Both are bounded, since they become rows of the usage roll-ups.
 */
import type { Dialect } from '../../providers/spec/chat-types.ts'

const maxLabelLength = 128
const maxTags = 10

const label = (value: unknown): string | null => {
  if (typeof value !== 'string') return null
  const trimmed = value.trim()
  return trimmed === '' ? null : trimmed.slice(0, maxLabelLength)
}

export const readUsageLabels = (options: {
  headers: Headers
  body: Record<string, unknown>
  dialect: Dialect
}): { userId: string | null; tags: string[] } => {
  const { headers, body } = options
  const fromBody =
    options.dialect === 'anthropic'
      ? label((body.metadata as { user_id?: unknown } | undefined)?.user_id)
      : (label(body.user) ?? label(body.safety_identifier))
  const userId = label(headers.get('x-gatehouse-user')) ?? fromBody
  const tagsHeader = headers.get('x-gatehouse-tags')
  const tags =
    tagsHeader === null
      ? []
      : [...new Set(tagsHeader.split(',').flatMap((tag) => label(tag) ?? []))].slice(0, maxTags)
  return { userId, tags }
}
