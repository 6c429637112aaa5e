import type { Usage } from '../spec/chat-types.ts'
import type { AnthropicUsage } from './anthropic-api.ts'

const known = (value: number | null | undefined): number | null =>
  typeof value === 'number' ? value : null

/** The billed counts of the `compaction` entries of `usage.iterations`, summed; `null` when there is none. */
const compactionOf = (
  usage: AnthropicUsage | null | undefined
): {
  input: number
  cacheRead: number
  cacheWrite: number
  write1h: number
  output: number
} | null => {
  const iterations = (usage as { iterations?: unknown } | null | undefined)?.iterations
  if (!Array.isArray(iterations)) return null
  let sum: {
    input: number
    cacheRead: number
    cacheWrite: number
    write1h: number
    output: number
  } | null = null
  for (const entry of iterations as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue
    const it = entry as AnthropicUsage & { type?: unknown }
    if (it.type !== 'compaction') continue
    sum ??= { input: 0, cacheRead: 0, cacheWrite: 0, write1h: 0, output: 0 }
    const write1h = known(it.cache_creation?.ephemeral_1h_input_tokens) ?? 0
    const cacheWrite =
      known(it.cache_creation_input_tokens) ??
      (known(it.cache_creation?.ephemeral_5m_input_tokens) ?? 0) + write1h
    sum.input += known(it.input_tokens) ?? 0
    sum.cacheRead += known(it.cache_read_input_tokens) ?? 0
    sum.cacheWrite += cacheWrite
    sum.write1h += write1h
    sum.output += known(it.output_tokens) ?? 0
  }
  return sum
}

/** `total` with `extra` added: `null` stays unknown unless there is something to add. */
const plus = (total: number | null, extra: number): number | null =>
  total === null ? (extra === 0 ? null : extra) : total + extra

/**
 * Anthropic usage → canonical. Anthropic's `input_tokens` excludes cache reads and writes, while the canonical
 * `inputTokens` includes them (OpenAI's convention), so the cache counts are added back when the upstream reports them.
 * `cache_creation` splits the writes by cache lifetime: its 1-hour count becomes `cacheWrite1hInputTokens` (priced
 * higher), and it stands for the total when `cache_creation_input_tokens` is missing.
 * https://docs.claude.com/en/api/messages (Usage), wire-notes §4.3.
 *
 * Server-side compaction (`context_management`, beta) summarizes the conversation in a sampling step of its own,
 * billed at the model's rates, whose tokens are in a `compaction` entry of `usage.iterations` and "not included in the
 * top-level `usage` fields" (the SDK's `BetaIterationsUsage`;
 * https://platform.claude.com/docs/en/build-with-claude/compaction): they are added here, so that what is recorded
 * is what is billed. A long-context tier is then judged on the sum.
 * `advisor_message` entries (another model's rates) and `fallback_message` ones are not counted.
 */
export const convertAnthropicUsage = (usage: AnthropicUsage | null | undefined): Usage => {
  const input = known(usage?.input_tokens)
  const cacheRead = known(usage?.cache_read_input_tokens)
  const write5m = known(usage?.cache_creation?.ephemeral_5m_input_tokens)
  const write1h = known(usage?.cache_creation?.ephemeral_1h_input_tokens)
  const cacheWrite =
    known(usage?.cache_creation_input_tokens) ??
    (write5m === null || write1h === null ? null : write5m + write1h)
  const converted: Usage = {
    inputTokens: input === null ? null : input + (cacheRead ?? 0) + (cacheWrite ?? 0),
    outputTokens: known(usage?.output_tokens),
    cachedInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    reasoningTokens: known(usage?.output_tokens_details?.thinking_tokens),
  }
  if (write1h !== null) converted.cacheWrite1hInputTokens = write1h
  const compaction = compactionOf(usage)
  if (compaction !== null) {
    converted.inputTokens = plus(
      converted.inputTokens,
      compaction.input + compaction.cacheRead + compaction.cacheWrite
    )
    converted.outputTokens = plus(converted.outputTokens, compaction.output)
    converted.cachedInputTokens = plus(converted.cachedInputTokens, compaction.cacheRead)
    converted.cacheWriteInputTokens = plus(converted.cacheWriteInputTokens, compaction.cacheWrite)
    const total1h = plus(converted.cacheWrite1hInputTokens ?? null, compaction.write1h)
    if (total1h !== null) converted.cacheWrite1hInputTokens = total1h
  }
  return converted
}

/**
 * Folds a `message_delta` usage into what `message_start` said: each count is a cumulative total, so a field that is
 * present overwrites, and a field that is absent keeps the earlier value.
 */
export const mergeAnthropicUsage = (
  earlier: AnthropicUsage | null | undefined,
  later: AnthropicUsage | null | undefined
): AnthropicUsage => {
  const merged: AnthropicUsage = { ...earlier }
  for (const [key, value] of Object.entries(later ?? {})) {
    if (value !== null && value !== undefined) (merged as Record<string, unknown>)[key] = value
  }
  return merged
}
