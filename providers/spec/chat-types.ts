/**
 * The canonical chat types: the one shape every dialect converts through when a request crosses dialects
 * (OpenAI client → Anthropic upstream and the reverse, anything → the local model).
 * Same-dialect traffic never goes through these types: it is forwarded byte for byte (see `ForwardRequest`).
 *
 * Conversion tables and wire facts: ../shared/specs/wire-notes.md §4.
 */

export type Dialect = 'openai' | 'anthropic'

export type ImageSource =
  { type: 'url'; url: string } | { type: 'base64'; mediaType: string; data: string }

export type TextPart = { type: 'text'; text: string }
export type ImagePart = { type: 'image'; source: ImageSource }
/** `arguments` is the JSON text exactly as the model produced it (OpenAI keeps it as a string; Anthropic as an object). */
export type ToolCallPart = { type: 'tool-call'; id: string; name: string; arguments: string }
/** Model reasoning (Anthropic `thinking`); `signature` must be replayed verbatim to Anthropic. */
export type ReasoningPart = {
  type: 'reasoning'
  text: string
  signature?: string
  redactedData?: string
}
/**
 * The model declining to answer (OpenAI Chat `message.refusal`, Responses `refusal` content part), kept apart from
 * text: structured-output clients parse text as JSON, and read a refusal instead of it.
 */
export type RefusalPart = { type: 'refusal'; text: string }

export type ChatMessage =
  /** `system` and OpenAI `developer` messages; Anthropic's top-level `system` becomes one of these. */
  | { role: 'system'; content: string }
  | { role: 'user'; content: Array<TextPart | ImagePart> }
  | { role: 'assistant'; content: Array<TextPart | ToolCallPart | ReasoningPart> }
  /** OpenAI `role:"tool"`; Anthropic `tool_result` blocks (one message per result). */
  | { role: 'tool'; toolCallId: string; content: Array<TextPart | ImagePart>; isError?: boolean }

export type ToolDefinition = {
  name: string
  description?: string
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>
  strict?: boolean
}

export type ToolChoice =
  { type: 'auto' } | { type: 'none' } | { type: 'required' } | { type: 'tool'; name: string }

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema'
      name: string
      schema: Record<string, unknown>
      strict?: boolean
      description?: string
    }

/** OpenAI's reasoning effort values (openai SDK `ReasoningEffort`); Anthropic's `output_config.effort` takes low…max. */
export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max'

/**
 * The reasoning the client asked for, as it asked: OpenAI `reasoning_effort` / Responses `reasoning.effort` give
 * `effort`; Anthropic `output_config.effort` gives `effort`, `thinking.type` gives `thinking` and
 * `thinking.budget_tokens` gives `budgetTokens`. Nothing is filled in: how a target takes it is its converter's job.
 */
export type ReasoningRequest = {
  effort?: ReasoningEffort
  thinking?: 'enabled' | 'adaptive' | 'disabled'
  budgetTokens?: number
}

/**
 * Which reasoning control a model takes (the built-in model table, config `models.<name>.reasoning`):
 * - `effort`: Anthropic adaptive thinking with `output_config.effort` (the newest Claude models);
 * - `budget`: Anthropic extended thinking, `thinking: {type: "enabled", budget_tokens}` (Claude 3.7 Sonnet, Claude 4.x
 *   before adaptive thinking);
 * - `openai`: `reasoning_effort` (OpenAI's reasoning models: o1, o3, o4, gpt-5, Codex);
 * - `none`: no reasoning setting at all (gpt-4o, gpt-4.1, Claude 3 and 3.5...).
 */
export type ReasoningControl = 'effort' | 'budget' | 'openai' | 'none'

export type ChatRequest = {
  /** Upstream model name (already resolved by the router: no `provider/` prefix). */
  model: string
  messages: ChatMessage[]
  tools?: ToolDefinition[]
  toolChoice?: ToolChoice
  /** `false` = at most one tool call per turn. Absent = provider default. */
  parallelToolCalls?: boolean
  /** Absent when the client did not send one; the Anthropic converter fills the model maximum (the one injected default). */
  maxTokens?: number
  temperature?: number
  topP?: number
  topK?: number
  /** OpenAI `seed`: the same seed and request give the same answer where the provider can promise it (the local model). */
  seed?: number
  stop?: string[]
  responseFormat?: ResponseFormat
  /** End-user id (OpenAI `user`, Anthropic `metadata.user_id`). */
  user?: string
  /** OpenAI `safety_identifier`: a hashed end-user id for abuse detection (where `user` is deprecated for it). */
  safetyIdentifier?: string
  /** OpenAI `prompt_cache_key`: groups requests that share a prefix, for the provider's prompt cache. */
  promptCacheKey?: string
  /** OpenAI `service_tier` (`auto`, `default`, `flex`, `priority`...), as the client sent it. */
  serviceTier?: string
  /** OpenAI `verbosity` (Chat) / `text.verbosity` (Responses): `low`, `medium` or `high`. */
  verbosity?: string
  /** Absent when the client asked nothing about reasoning. */
  reasoning?: ReasoningRequest
  stream: boolean
  /** OpenAI `stream_options.include_usage`; the canonical stream always carries usage when the provider gives it. */
  includeUsage?: boolean
}

/** Why generation stopped: `unified` for conversion, `raw` as the provider said it (for logs and passthrough). */
export type FinishReason = {
  unified: 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'error' | 'other'
  raw: string | null
  /** The stop sequence that ended the answer (`unified: 'stop'`), where the provider says which (the local model). */
  stopSequence?: string
}

/**
 * Token usage. `null` = the provider did not report it (unknown is not zero).
 * `inputTokens` includes cached tokens (OpenAI's convention); Anthropic's `input_tokens` excludes them,
 * so its converter adds `cache_read_input_tokens` and `cache_creation_input_tokens`.
 */
export type Usage = {
  inputTokens: number | null
  outputTokens: number | null
  cachedInputTokens: number | null
  /** Every cache write, whatever its lifetime. */
  cacheWriteInputTokens: number | null
  /**
   * How many of `cacheWriteInputTokens` went to a 1-hour cache (Anthropic's `cache_creation.ephemeral_1h_input_tokens`),
   * which is billed higher than the 5-minute default; the rest are 5-minute writes. Present only where the provider
   * splits its writes by lifetime; absent or `null`, they are all 5-minute writes as far as anyone knows.
   */
  cacheWrite1hInputTokens?: number | null
  reasoningTokens: number | null
}

export type ChatChoice = {
  index: number
  content: Array<TextPart | RefusalPart | ToolCallPart | ReasoningPart>
  finishReason: FinishReason
}

export type ChatResult = {
  id: string
  /** The model name the upstream reported. */
  model: string
  /** Unix seconds. */
  created: number
  choices: ChatChoice[]
  usage: Usage
}

export type ChatChunk =
  | { type: 'start'; id: string; model: string; created: number; usage?: Usage }
  | { type: 'text-delta'; choiceIndex: number; delta: string }
  /** A piece of the model's refusal (`RefusalPart`), never mixed into text. */
  | { type: 'refusal-delta'; choiceIndex: number; delta: string }
  /**
   * Reasoning text; `signature` closes its block (Anthropic's, to replay with it). `redactedData` is a whole redacted
   * block (Anthropic's `redacted_thinking`, `delta` empty): a reasoning part of its own, to replay as it came.
   */
  | {
      type: 'reasoning-delta'
      choiceIndex: number
      delta: string
      signature?: string
      redactedData?: string
    }
  /** `index` is the tool call's position within the choice (0-based); `id` and `name` come on its first fragment only. */
  | {
      type: 'tool-call-delta'
      choiceIndex: number
      index: number
      id?: string
      name?: string
      argumentsDelta: string
    }
  | { type: 'finish'; choiceIndex: number; finishReason: FinishReason }
  /** Cumulative usage so far; a later `usage` chunk replaces an earlier one. */
  | { type: 'usage'; usage: Usage }

export const emptyUsage = (): Usage => ({
  inputTokens: null,
  outputTokens: null,
  cachedInputTokens: null,
  cacheWriteInputTokens: null,
  reasoningTokens: null,
})
