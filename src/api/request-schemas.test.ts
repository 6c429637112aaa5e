/**
 * Routes forward the request body as zod returns it (`handle-chat.ts`), so every inbound schema must give back the
 * client's JSON whole: unknown fields at every level kept, nothing added, nothing changed.
 */
import { describe, expect, it } from 'vitest'
import type { ZodType } from 'zod'
import { countTokensRequestSchema, messagesRequestSchema } from './anthropic/anthropic-schemas.ts'
import { chatCompletionRequestSchema, embeddingsRequestSchema } from './openai/openai-schemas.ts'

const chatBody = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'developer', content: 'Be brief.', name: 'policy', x_unknown: { nested: [1, { deep: true }] } },
    { role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: { type: 'ephemeral' } }, { type: 'image_url', image_url: { url: 'data:,', detail: 'low' } }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '42' },
  ],
  tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} }, strict: true } }],
  tool_choice: { type: 'function', function: { name: 'f' } },
  response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } },
  stream_options: { include_usage: true, future_option: 1 },
  temperature: 0,
  n: 2,
  logprobs: true,
  top_logprobs: 3,
  seed: 7,
  stop: ['\n'],
  metadata: { tenant: 'a' },
  some_future_field: [null, 'x'],
}

const messagesBody = {
  model: 'claude-sonnet-4-5',
  max_tokens: 64,
  system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: '42' }] }] },
    { role: 'assistant', content: 'Hello' },
  ],
  tools: [{ name: 'f', input_schema: { type: 'object' }, x_unknown: 1 }],
  tool_choice: { type: 'auto', disable_parallel_tool_use: true },
  thinking: { type: 'enabled', budget_tokens: 1024 },
  stop_sequences: ['END'],
  metadata: { user_id: 'u' },
}

const cases: [string, ZodType, Record<string, unknown>][] = [
  ['chat completions', chatCompletionRequestSchema, chatBody],
  ['chat completions, the least a client sends', chatCompletionRequestSchema, { model: 'm', messages: [{ role: 'user', content: 'Hi' }] }],
  ['embeddings', embeddingsRequestSchema, { model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'base64', dimensions: 8, user: 'u' }],
  ['messages', messagesRequestSchema, messagesBody],
  ['count_tokens', countTokensRequestSchema, { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }], x: [1] }],
]

describe('inbound request schemas', () => {
  it.each(cases)('%s: returns the JSON it was given, whole', (_name, schema, body) => {
    const text = JSON.stringify(body)
    const parsed = schema.parse(JSON.parse(text))
    expect(parsed).toStrictEqual(JSON.parse(text))
  })
})
