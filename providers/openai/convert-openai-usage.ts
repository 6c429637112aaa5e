/**
 * OpenAI `usage` → canonical `Usage`, for every OpenAI-shaped body we read (chat JSON, the streamed usage chunk,
 * embeddings). A count the upstream did not send stays `null`: unknown is not zero.
 * https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage
 */
import {
  isJsonKey,
  jsonKey,
  readJsonNumber,
  scanJsonObject,
  type JsonMemberVisitor,
} from '../shared/scan-json.ts'
import type { Usage } from '../spec/chat-types.ts'

const count = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null

const record = (value: unknown): Record<string, unknown> | null =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null

/** Reads an OpenAI `usage` object of any provenance; `null` when it is not an object at all. */
export const convertOpenAIUsage = (usage: unknown): Usage | null => {
  const wire = record(usage)
  if (!wire) return null
  const promptDetails = record(wire.prompt_tokens_details)
  const completionDetails = record(wire.completion_tokens_details)
  return {
    inputTokens: count(wire.prompt_tokens),
    outputTokens: count(wire.completion_tokens),
    cachedInputTokens: count(promptDetails?.cached_tokens),
    cacheWriteInputTokens: count(promptDetails?.cache_write_tokens),
    reasoningTokens: count(completionDetails?.reasoning_tokens),
  }
}

/**
 * Reads a Responses API `usage` (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens` and
 * `.cache_write_tokens`, `output_tokens_details.reasoning_tokens`); `null` when it is not an object at all. Cache
 * writes are billed from the GPT-5.6 family on (https://developers.openai.com/api/docs/guides/prompt-caching), and
 * the spec's `ResponseUsage` requires the count; an answer without it leaves it unknown.
 * https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage
 */
export const convertOpenAIResponsesUsage = (usage: unknown): Usage | null => {
  const wire = record(usage)
  if (!wire) return null
  const inputDetails = record(wire.input_tokens_details)
  const outputDetails = record(wire.output_tokens_details)
  return {
    inputTokens: count(wire.input_tokens),
    outputTokens: count(wire.output_tokens),
    cachedInputTokens: count(inputDetails?.cached_tokens),
    cacheWriteInputTokens: count(inputDetails?.cache_write_tokens),
    reasoningTokens: count(outputDetails?.reasoning_tokens),
  }
}

type ScannedUsage = {
  inputTokens: number | null
  outputTokens: number | null
  cachedInputTokens: number | null
  cacheWriteInputTokens: number | null
  reasoningTokens: number | null
  /** A nested object that could not be read: the whole usage is then read by `JSON.parse`. */
  unreadable: boolean
}

const keys = {
  promptTokens: jsonKey('prompt_tokens'),
  completionTokens: jsonKey('completion_tokens'),
  promptDetails: jsonKey('prompt_tokens_details'),
  completionDetails: jsonKey('completion_tokens_details'),
  cachedTokens: jsonKey('cached_tokens'),
  cacheWriteTokens: jsonKey('cache_write_tokens'),
  reasoningTokens: jsonKey('reasoning_tokens'),
}

/** `count` of the value from `start` to `end`: a finite JSON number, else `null`. */
const countAt = (bytes: Uint8Array, start: number, end: number): number | null => {
  const value = readJsonNumber(bytes, start, end)
  return value !== undefined && Number.isFinite(value) ? value : null
}

/** The members of `prompt_tokens_details` that count. */
const visitCached: JsonMemberVisitor<ScannedUsage> = (bytes, key, keyEnd, start, end, usage) => {
  if (isJsonKey(bytes, key, keyEnd, keys.cachedTokens))
    usage.cachedInputTokens = countAt(bytes, start, end)
  else if (isJsonKey(bytes, key, keyEnd, keys.cacheWriteTokens))
    usage.cacheWriteInputTokens = countAt(bytes, start, end)
}

/** The member of `completion_tokens_details` that counts. */
const visitReasoning: JsonMemberVisitor<ScannedUsage> = (bytes, key, keyEnd, start, end, usage) => {
  if (isJsonKey(bytes, key, keyEnd, keys.reasoningTokens))
    usage.reasoningTokens = countAt(bytes, start, end)
}

const visitUsage: JsonMemberVisitor<ScannedUsage> = (bytes, key, keyEnd, start, end, usage) => {
  if (isJsonKey(bytes, key, keyEnd, keys.promptTokens))
    usage.inputTokens = countAt(bytes, start, end)
  else if (isJsonKey(bytes, key, keyEnd, keys.completionTokens))
    usage.outputTokens = countAt(bytes, start, end)
  else if (isJsonKey(bytes, key, keyEnd, keys.promptDetails)) {
    // The last of duplicate keys wins, as in `JSON.parse`; a details member that is not an object counts nothing.
    usage.cachedInputTokens = usage.cacheWriteInputTokens = null
    if (bytes[start] === 0x7b && scanJsonObject(bytes, start, visitCached, usage) === -1)
      usage.unreadable = true
  } else if (isJsonKey(bytes, key, keyEnd, keys.completionDetails)) {
    usage.reasoningTokens = null
    if (bytes[start] === 0x7b && scanJsonObject(bytes, start, visitReasoning, usage) === -1)
      usage.unreadable = true
  }
}

/**
 * `convertOpenAIUsage` of the `usage` object whose `{` is at `start` of a body's bytes, read in place
 * (`scan-json.ts`), with the index just past it; `undefined` when it is not an object this reads (then `JSON.parse`).
 */
export const scanOpenAIUsage = (
  bytes: Uint8Array,
  start: number
): { usage: Usage; end: number } | undefined => {
  const usage: ScannedUsage = {
    inputTokens: null,
    outputTokens: null,
    cachedInputTokens: null,
    cacheWriteInputTokens: null,
    reasoningTokens: null,
    unreadable: false,
  }
  const end = scanJsonObject(bytes, start, visitUsage, usage)
  if (end === -1 || usage.unreadable) return undefined
  return {
    usage: {
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cachedInputTokens: usage.cachedInputTokens,
      cacheWriteInputTokens: usage.cacheWriteInputTokens,
      reasoningTokens: usage.reasoningTokens,
    },
    end,
  }
}
