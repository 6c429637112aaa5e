/**
 * Largest output (`max_tokens`) each Claude model family accepts, from Anthropic's models overview
 * (https://docs.claude.com/en/docs/about-claude/models/overview). Used only to fill Anthropic's required
 * `max_tokens` when an OpenAI-shaped client sent none (the one default the gateway injects; config
 * `models.<name>.maxOutputTokens` overrides it). Unknown models return `undefined`: better no guess than a wrong one.
 */
type ModelLimit = { pattern: RegExp; maxOutputTokens: number }

const claudeModelLimits: readonly ModelLimit[] = [
  { pattern: /^claude-3-(haiku|sonnet|opus)$/, maxOutputTokens: 4096 },
  { pattern: /^claude-3-5-(sonnet|haiku)$/, maxOutputTokens: 8192 },
  { pattern: /^claude-3-7-sonnet$/, maxOutputTokens: 64_000 },
  { pattern: /^claude-sonnet-4(-\d+)?$/, maxOutputTokens: 64_000 },
  { pattern: /^claude-opus-4(-[01])?$/, maxOutputTokens: 32_000 },
  { pattern: /^claude-opus-4-([5-9]|\d{2,})$/, maxOutputTokens: 64_000 },
  { pattern: /^claude-haiku-4(-\d+)?$/, maxOutputTokens: 64_000 },
]

/**
 * Strips what varies within a family: a snapshot date (`-20250929`, Vertex `@20250929`), `-latest`, and a Bedrock
 * or Vertex style version (`-v2:0`, `-v2@...`), so `claude-3-5-sonnet-20241022` and `claude-3-5-sonnet-latest`
 * share one entry.
 */
const familyOf = (model: string): string =>
  model
    .toLowerCase()
    .replace(/-v\d+(:\d+)?$/, '')
    .replace(/[-@]\d{8}$/, '')
    .replace(/-v\d+(:\d+)?$/, '')
    .replace(/-latest$/, '')

export const modelMaxOutputTokens = (model: string): number | undefined => {
  const family = familyOf(model)
  return claudeModelLimits.find((limit) => limit.pattern.test(family))?.maxOutputTokens
}
