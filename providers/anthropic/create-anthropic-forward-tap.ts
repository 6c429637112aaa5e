/**
 * Reads a forwarded Anthropic body on the side, for usage records: the bytes themselves go to the client untouched.
 * Streams are parsed incrementally (`message_start` usage, then cumulative `message_delta` usage, `event: error`);
 * the output count of `message_start` is a placeholder (1), so a stream that ends before any `message_delta` with
 * usage (the client left, the upstream cut it) reports its output as unknown (`null`), never as that placeholder;
 * JSON bodies are buffered up to 8 MiB and parsed at the end. Every parse is guarded: a tap never throws.
 * A stream's output is also estimated from the text of its deltas (`outputTokensSeen`), for when that usage never came.
 */
import { TextWeigher } from '../shared/estimate-text-tokens.ts'
import { createJsonTap } from '../shared/create-json-tap.ts'
import { readJsonMember } from '../shared/read-json-member.ts'
import { SseParser, type SseEvent } from '../shared/parse-sse.ts'
import type { Operation } from '../spec/operation.ts'
import type { ForwardEnd, ForwardSummary, ForwardTap } from '../spec/provider-adapter.ts'
import {
  anthropicErrorBodySchema,
  anthropicMessageDeltaSchema,
  anthropicMessageSchema,
  anthropicMessageStartSchema,
  type AnthropicUsage,
} from './anthropic-api.ts'
import { convertAnthropicUsage, mergeAnthropicUsage } from './convert-anthropic-usage.ts'
import { anthropicErrorStatus } from './anthropic-error.ts'

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The members that hold a delta's generated text: `text_delta`, `thinking_delta`, `input_json_delta`. */
const deltaTextKeys = ['text', 'thinking', 'partial_json'] as const

/**
 * The generated text a `content_block_delta` event's data carries, read in place (`readJsonMember` parses that one
 * string, not the event); `undefined` for the deltas that carry none (`signature_delta`, `citations_delta`). A quote
 * inside a JSON string is escaped, so a text that mentions `"thinking"` is not taken for its key.
 */
const deltaText = (data: string): string | undefined => {
  for (const key of deltaTextKeys) {
    const member = readJsonMember(data, key, 'first')
    if (member.kind === 'found') return typeof member.value === 'string' ? member.value : undefined
    if (member.kind === 'unreadable') return undefined
  }
  return undefined
}

const createStreamTap = (): ForwardTap => {
  const parser = new SseParser()
  let usage: AnthropicUsage | null = null
  let model: string | undefined
  let error: ForwardSummary['error']
  let stopped = false
  /** A `message_delta` brought usage: the output count is the upstream's, not `message_start`'s placeholder. */
  let delivered = false
  /** For `outputTokensSeen`: Anthropic sends several tokens a delta, so the text is weighed, not the deltas counted. */
  const weigher = new TextWeigher()
  const read = (event: SseEvent): void => {
    if (event.event === 'content_block_delta') {
      const text = deltaText(event.data)
      if (text !== undefined) weigher.add(text)
    } else if (event.event === 'message_stop') stopped = true
    else if (event.event === 'message_start') {
      const parsed = anthropicMessageStartSchema.safeParse(parseJson(event.data))
      if (!parsed.success) return
      model = parsed.data.message.model
      usage = mergeAnthropicUsage(usage, parsed.data.message.usage)
    } else if (event.event === 'message_delta') {
      const parsed = anthropicMessageDeltaSchema.safeParse(parseJson(event.data))
      if (parsed.success && parsed.data.usage) {
        usage = mergeAnthropicUsage(usage, parsed.data.usage)
        delivered = true
      }
    } else if (event.event === 'error') {
      const parsed = anthropicErrorBodySchema.safeParse(parseJson(event.data))
      error = parsed.success
        ? {
            message: parsed.data.error.message ?? 'Anthropic reported an error',
            type: parsed.data.error.type ?? undefined,
          }
        : { message: 'Anthropic reported an error' }
    }
  }
  return {
    write(chunk) {
      try {
        for (const event of parser.push(chunk)) read(event)
      } catch {
        // An event past the parser's bound (`SseEventTooLarge`): a tap never breaks the response it watches.
      }
    },
    inError: () => error !== undefined || parser.pendingEvent === 'error',
    // A last event without its blank line is still one the body ended with.
    end: (): ForwardEnd =>
      error !== undefined
        ? { kind: 'error', error: { ...error, status: anthropicErrorStatus(error.type) } }
        : stopped || parser.pendingEvent === 'message_stop'
          ? { kind: 'complete' }
          : { kind: 'cut' },
    finish() {
      for (const event of parser.end()) read(event)
      const converted = usage === null ? null : convertAnthropicUsage(usage)
      return {
        usage: converted === null || delivered ? converted : { ...converted, outputTokens: null },
        model,
        ...(error ? { error } : {}),
        outputTokensSeen: weigher.total(),
      }
    },
  }
}

const summarizeMessage = (value: unknown): ForwardSummary => {
  const parsed = anthropicMessageSchema.safeParse(value)
  if (!parsed.success) return { usage: null }
  return {
    usage: parsed.data.usage ? convertAnthropicUsage(parsed.data.usage) : null,
    model: parsed.data.model,
  }
}

const noUsage = (): ForwardTap => ({ write: () => {}, finish: () => ({ usage: null }) })

/** `count-tokens` bodies carry no usage (counting is free), so their summary is always empty. */
export const createAnthropicForwardTap = (options: {
  operation: Operation
  stream: boolean
}): ForwardTap =>
  options.operation !== 'messages'
    ? noUsage()
    : options.stream
      ? createStreamTap()
      : createJsonTap(summarizeMessage)
