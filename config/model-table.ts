import type { ReasoningControl } from '../providers/spec/chat-types.ts'

/**
 * Largest output (`max_tokens`) each Claude model family accepts, from Anthropic's models overview
 * (https://docs.claude.com/en/docs/about-claude/models/overview,
 * now https://platform.claude.com/docs/en/models). Used only to fill Anthropic's required
 * `max_tokens` when an OpenAI-shaped client sent none (the one default the gateway injects; config
 * `models.<name>.maxOutputTokens` overrides it). Unknown models return `undefined`: better no guess than a wrong one.
 */
type ModelLimit = { pattern: RegExp; maxOutputTokens: number }

const claudeModelLimits: readonly ModelLimit[] = [
  { pattern: /^claude-3-(haiku|sonnet|opus)$/, maxOutputTokens: 4096 },
  { pattern: /^claude-3-5-(sonnet|haiku)$/, maxOutputTokens: 8192 },
  { pattern: /^claude-3-7-sonnet$/, maxOutputTokens: 64_000 },
  { pattern: /^claude-sonnet-4(-[05])?$/, maxOutputTokens: 64_000 },
  { pattern: /^claude-opus-4(-[01])?$/, maxOutputTokens: 32_000 },
  // Opus 4.7: 128K per Google Cloud's and Bedrock's model cards, not yet confirmed on Anthropic's own page.
  { pattern: /^claude-opus-4-[57]$/, maxOutputTokens: 64_000 },
  { pattern: /^claude-haiku-4(-5)?$/, maxOutputTokens: 64_000 },
  /*
   * 128K: each model's page, https://platform.claude.com/docs/en/models/<model>/overview ("Max output"), for Opus
   * 4.6 and 4.8, Sonnet 4.6, Opus 5 and 5.5, Sonnet 5 and 5.5, Haiku 5.5, Fable 5 and 5.1, and Mythos 5 (which
   * "shares Claude Fable 5's specifications"). Exact versions only: a later one is unknown until listed.
   */
  { pattern: /^claude-opus-4-[68]$/, maxOutputTokens: 128_000 },
  { pattern: /^claude-sonnet-4-6$/, maxOutputTokens: 128_000 },
  { pattern: /^claude-(opus|sonnet)-5(-5)?$/, maxOutputTokens: 128_000 },
  { pattern: /^claude-haiku-5-5$/, maxOutputTokens: 128_000 },
  { pattern: /^claude-fable-5(-1)?$/, maxOutputTokens: 128_000 },
  { pattern: /^claude-mythos-5$/, maxOutputTokens: 128_000 },
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

/** What `modelMaxOutputTokens` answered, per model name (`null`: unknown), emptied when full. */
const remembered = new Map<string, number | null>()

/**
 * A tenant key's every call asks it (a budget's reservation), and the family's regular expressions cost about a
 * microsecond: answered once per model name. Names come from clients, so the memory is bounded.
 */
export const modelMaxOutputTokens = (model: string): number | undefined => {
  let known = remembered.get(model)
  if (known === undefined) {
    const family = familyOf(model)
    known = claudeModelLimits.find((limit) => limit.pattern.test(family))?.maxOutputTokens ?? null
    if (remembered.size >= 1_000) remembered.clear()
    remembered.set(model, known)
  }
  return known ?? undefined
}

/** How the gateway reaches a model on an OpenAI upstream: Chat Completions, or the Responses API only. */
export type ModelApi = 'chat' | 'responses'

/**
 * OpenAI models served only through the Responses API: `POST /v1/chat/completions` answers 404 "This model is only
 * supported in v1/responses and not in v1/chat/completions." for them, so Chat Completions and Messages clients reach
 * them converted to a Responses request. The pro models (o1-pro, o3-pro, gpt-5-pro, gpt-5.x-pro) and the Codex
 * models (codex-mini-latest, gpt-5-codex, gpt-5.x-codex and their -mini / -max). Sources:
 * https://platform.openai.com/docs/models/o1-pro and .../codex-mini-latest ("v1/responses" only, cited in
 * simonw/llm#839, UKGovernmentBEIS/inspect_ai#1961); the 404 quoted above for o3-pro and codex-mini-latest in
 * HeyPuter/puter#1303 and openai/codex#1306; gpt-5-pro and gpt-5-codex in block/goose#5270. OpenAI's own model
 * pages say it of https://developers.openai.com/api/docs/models/gpt-5-codex ("available in the Responses API only"),
 * .../gpt-5-pro and .../gpt-5.4-pro (developers.openai.com/ko-KR/...: "Responses API에서만 사용할 수 있습니다"), and
 * .../codex-mini-latest (Endpoints: Chat Completions "Not supported").
 * Config `models.<name>.api` overrides this list either way.
 */
const responsesOnlyModel =
  /^(?:o[13]-pro|gpt-5(?:\.\d+)?-pro|gpt-5(?:\.\d+)?-codex(?:-mini|-max)?|codex-mini)(?:-latest|-\d{4}-\d{2}-\d{2})?$/i

/** One regular expression, snapshot date and `-latest` included: it is asked on every Chat Completions call. */
export const builtInModelApi = (model: string): ModelApi =>
  responsesOnlyModel.test(model) ? 'responses' : 'chat'

/**
 * Which reasoning control each known model takes (`ReasoningControl`), first match wins. Sources: Anthropic's
 * extended and adaptive thinking guides (https://platform.claude.com/docs/en/build-with-claude/extended-thinking,
 * .../adaptive-thinking: adaptive thinking and `output_config.effort` from the 4.6 models on, `budget_tokens` on Claude
 * 3.7 Sonnet and the Claude 4 models before them), OpenAI's reasoning guide (https://platform.openai.com/docs/guides/reasoning:
 * `reasoning_effort` on o1, o3, o4-mini, gpt-5 and Codex; not on o1-mini, o1-preview or the gpt-5 chat models).
 * Unknown models return `undefined`: the adapter then uses its provider's newest control (Anthropic: `effort`;
 * OpenAI-compatible: `reasoning_effort`, the upstream judges). Config `models.<name>.reasoning` overrides it.
 */
const reasoningControls: readonly { pattern: RegExp; control: ReasoningControl }[] = [
  { pattern: /^claude-3-(haiku|sonnet|opus)$/, control: 'none' },
  { pattern: /^claude-3-5-(sonnet|haiku)$/, control: 'none' },
  { pattern: /^claude-3-7-sonnet$/, control: 'budget' },
  { pattern: /^claude-(sonnet|opus)-4(-[0-5])?$/, control: 'budget' },
  { pattern: /^claude-haiku-4(-[0-5])?$/, control: 'budget' },
  { pattern: /^claude-(sonnet|opus|haiku)-4-([6-9]|\d{2,})$/, control: 'effort' },
  { pattern: /^claude-[a-z]+-([5-9]|\d{2,})(-\d+)?$/, control: 'effort' },
  { pattern: /^(o1-mini|o1-preview)$/, control: 'none' },
  { pattern: /^gpt-5(\.\d+)?-chat$/, control: 'none' },
  { pattern: /^(o[134]|o[134]-(mini|pro|deep-research)|codex-mini)$/, control: 'openai' },
  { pattern: /^gpt-5(\.\d+)?(-[a-z]+)*$/, control: 'openai' },
  { pattern: /^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4|gpt-3\.5)(-[a-z0-9.]+)*$/, control: 'none' },
]

/** The family of an OpenAI model name: a snapshot date (`-2025-08-07`) and `-latest` stripped. */
const openAIFamilyOf = (model: string): string =>
  model
    .toLowerCase()
    .replace(/-\d{4}-\d{2}-\d{2}$/, '')
    .replace(/-latest$/, '')

const rememberedControls = new Map<string, ReasoningControl | null>()

/** The built-in reasoning control of a model (see above); answered once per model name, like the maximum output. */
export const builtInReasoningControl = (model: string): ReasoningControl | undefined => {
  let known = rememberedControls.get(model)
  if (known === undefined) {
    const family = model.toLowerCase().startsWith('claude')
      ? familyOf(model)
      : openAIFamilyOf(model)
    known = reasoningControls.find((entry) => entry.pattern.test(family))?.control ?? null
    if (rememberedControls.size >= 1_000) rememberedControls.clear()
    rememberedControls.set(model, known)
  }
  return known ?? undefined
}
