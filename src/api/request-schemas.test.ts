/**
 * Routes forward the request body as zod returns it (`handle-chat.ts`), so every inbound schema must give back the
 * client's JSON whole: unknown fields at every level kept, nothing added, nothing changed. A forwarded request must
 * not be stricter than the upstream: only what the gateway reads is checked, yet /openapi.json still describes the rest.
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { describe, expect, it } from 'vitest'
import type { ZodType } from 'zod'
import { countTokensRequestSchema, messagesRequestSchema } from './anthropic/anthropic-schemas.ts'
import { countTokensRoute, messagesRoute } from './anthropic/messages.route.ts'
import { chatCompletionsRoute } from './openai/chat-completions.route.ts'
import { chatCompletionRequestSchema, embeddingsRequestSchema } from './openai/openai-schemas.ts'
import { createResponseRequestSchema } from './openai-responses/responses-schemas.ts'

const chatBody = {
  model: 'gpt-4o-mini',
  messages: [
    {
      role: 'developer',
      content: 'Be brief.',
      name: 'policy',
      x_unknown: { nested: [1, { deep: true }] },
    },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Hi', cache_control: { type: 'ephemeral' } },
        { type: 'image_url', image_url: { url: 'data:,', detail: 'low' } },
      ],
    },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    },
    { role: 'tool', tool_call_id: 'call_1', content: '42' },
  ],
  tools: [
    {
      type: 'function',
      function: { name: 'f', parameters: { type: 'object', properties: {} }, strict: true },
    },
  ],
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
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Hi' },
        { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: '42' }] },
      ],
    },
    { role: 'assistant', content: 'Hello' },
  ],
  tools: [{ name: 'f', input_schema: { type: 'object' }, x_unknown: 1 }],
  tool_choice: { type: 'auto', disable_parallel_tool_use: true },
  thinking: { type: 'enabled', budget_tokens: 1024 },
  stop_sequences: ['END'],
  metadata: { user_id: 'u' },
}

/** The first call of Claude Code 2.1 (wire-notes §10), fields the gateway has no schema for included. */
const claudeCodeBody = {
  model: 'claude-opus-4-7',
  max_tokens: 32000,
  stream: true,
  system: [
    { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1' },
    { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } },
    { type: 'text', text: 'Follow the repo rules.', cache_control: { type: 'ephemeral' } },
  ],
  messages: [
    {
      role: 'user',
      content: [{ type: 'text', text: 'List the files.', cache_control: { type: 'ephemeral' } }],
    },
    {
      role: 'system',
      content: [{ type: 'text', text: 'The user is on Linux.' }],
      clear_at: 'never',
    },
    { role: 'system', content: [], output_config: { effort: 'low' } },
    { role: 'critic', content: 'a role from a future API version' },
    { role: 'assistant', content: [{ type: 'future_block', payload: { x: 1 } }] },
  ],
  thinking: { type: 'adaptive', display: 'omitted' },
  context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  output_config: { effort: 'high' },
  metadata: { user_id: '{"device_id":"d","session_id":"s"}' },
  tools: [
    {
      name: 'Bash',
      description: 'Run a command',
      input_schema: { type: 'object', properties: { command: { type: 'string' } } },
    },
    { type: 'mcp_toolset', mcp_server_name: 'github', default_config: { defer_loading: true } },
  ],
  tool_choice: { type: 'auto' },
  temperature: null,
  stop_sequences: null,
}

const cases: [string, ZodType, Record<string, unknown>][] = [
  ['chat completions', chatCompletionRequestSchema, chatBody],
  [
    'chat completions, the least a client sends',
    chatCompletionRequestSchema,
    { model: 'm', messages: [{ role: 'user', content: 'Hi' }] },
  ],
  [
    'embeddings',
    embeddingsRequestSchema,
    {
      model: 'text-embedding-3-small',
      input: ['a', 'b'],
      encoding_format: 'base64',
      dimensions: 8,
      user: 'u',
    },
  ],
  ['messages', messagesRequestSchema, messagesBody],
  ['messages, shaped like Claude Code', messagesRequestSchema, claudeCodeBody],
  [
    'chat completions, beyond what OpenAI itself takes',
    chatCompletionRequestSchema,
    {
      model: 'm',
      messages: [
        { role: 'critic', content: [{ type: 'input_video', video: {} }] },
        { role: 'user' },
      ],
      stop: ['a', 'b', 'c', 'd', 'e'],
      n: 0,
      tools: [{}],
    },
  ],
  [
    'count_tokens',
    countTokensRequestSchema,
    { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }], x: [1] },
  ],
  [
    'count_tokens, shaped like Claude Code',
    countTokensRequestSchema,
    { ...claudeCodeBody, max_tokens: undefined, stream: undefined },
  ],
]

/** What the gateway reads itself stays checked: a body without it fails on the field it names. */
const rejected: [string, ZodType, Record<string, unknown>, string][] = [
  ['messages without model', messagesRequestSchema, { max_tokens: 1, messages: [] }, 'model'],
  [
    'messages without max_tokens',
    messagesRequestSchema,
    { model: 'm', messages: [{ role: 'user', content: 'Hi' }] },
    'max_tokens',
  ],
  [
    'messages with a string stream',
    messagesRequestSchema,
    { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'Hi' }], stream: 'true' },
    'stream',
  ],
  [
    'messages as an object',
    messagesRequestSchema,
    { model: 'm', max_tokens: 1, messages: { role: 'user' } },
    'messages',
  ],
  [
    'a message without a role',
    messagesRequestSchema,
    { model: 'm', max_tokens: 1, messages: [{ content: 'Hi' }] },
    'messages.0.role',
  ],
  [
    'count_tokens with a message that is a string',
    countTokensRequestSchema,
    { model: 'm', messages: ['Hi'] },
    'messages.0',
  ],
  [
    'messages with no message (the API refuses it too)',
    messagesRequestSchema,
    { model: 'm', max_tokens: 1, messages: [] },
    'messages',
  ],
  [
    'chat completions without messages',
    chatCompletionRequestSchema,
    { model: 'm', messages: [] },
    'messages',
  ],
  [
    'chat completions with a numeric role',
    chatCompletionRequestSchema,
    { model: 'm', messages: [{ role: 1 }] },
    'messages.0.role',
  ],
  [
    'chat completions with stream_options a string',
    chatCompletionRequestSchema,
    { model: 'm', messages: [{ role: 'user' }], stream_options: 'usage' },
    'stream_options',
  ],
]

const documentOf = (): Record<
  string,
  { properties: Record<string, Record<string, unknown>>; required?: string[] }
> => {
  const app = new OpenAPIHono()
  const answer = (c: { json: (value: unknown) => Response }) => c.json({}) as never
  app.openapi(messagesRoute, answer)
  app.openapi(countTokensRoute, answer)
  app.openapi(chatCompletionsRoute, answer)
  // As /openapi.json serves it (docs.route.ts): OpenAPI 3.1, whose schemas are JSON Schema 2020-12.
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'test', version: '1' },
  })
  return document.components?.schemas as never
}

describe('inbound request schemas', () => {
  // Through `safeParseAsync`, as the routes' validator calls it (`validated-synchronously.ts`): an asynchronous
  // refinement added to one of these schemas would throw here, as it would in every request.
  it.each(cases)('%s: returns the JSON it was given, whole', async (_name, schema, body) => {
    const text = JSON.stringify(body)
    const result = await schema.safeParseAsync(JSON.parse(text))
    expect(result.success).toBe(true)
    expect(result.data).toStrictEqual(JSON.parse(text))
  })

  it.each(rejected)('%s: rejected, naming the field', async (_name, schema, body, field) => {
    const result = await schema.safeParseAsync(body)
    expect(result.success).toBe(false)
    expect(result.error?.issues[0].path.join('.')).toBe(field)
  })

  it('the routes validate without an asynchronous parse, on the compiled fast path of zod', () => {
    for (const schema of [
      chatCompletionRequestSchema,
      embeddingsRequestSchema,
      messagesRequestSchema,
      countTokensRequestSchema,
      createResponseRequestSchema,
    ])
      expect(Object.hasOwn(schema, 'safeParseAsync')).toBe(true)
  })

  it('/openapi.json still describes the fields the gateway leaves to the upstream', () => {
    const schemas = documentOf()
    const messages = schemas.CreateMessageRequest
    expect(messages.required).toEqual(['model', 'messages', 'max_tokens'])
    expect(messages.properties.temperature).toEqual({ type: 'number' })
    expect(messages.properties.stop_sequences).toEqual({ type: 'array', items: { type: 'string' } })
    expect(messages.properties.system).toMatchObject({
      anyOf: [{ type: 'string' }, { type: 'array' }],
    })
    expect(messages.properties.output_config).toMatchObject({
      type: 'object',
      properties: { effort: { enum: expect.arrayContaining(['high']) } },
    })
    expect(messages.properties.messages).toMatchObject({
      items: {
        required: ['role'],
        properties: { role: { type: 'string' }, content: { anyOf: expect.any(Array) } },
      },
    })
    // A custom tool (with its input schema), or a server tool or toolset named by its `type`.
    expect(schemas.CountMessageTokensRequest.properties.tools).toMatchObject({
      type: 'array',
      items: {
        anyOf: [
          { properties: { input_schema: { type: 'object' } } },
          { required: ['type', 'name'] },
        ],
      },
    })
    const chat = schemas.CreateChatCompletionRequest
    expect(chat.required).toEqual(['model', 'messages'])
    // `null` as a type (3.1), not 3.0's `nullable`, which JSON Schema tools (Ajv) refuse without a `type`.
    expect(chat.properties.max_completion_tokens).toEqual({ type: ['number', 'null'] })
    expect(chat.properties.stop).toMatchObject({
      anyOf: [{ anyOf: [{ type: 'string' }, { type: 'array' }] }, { type: 'null' }],
    })
    expect(JSON.stringify(schemas)).not.toContain('"nullable"')
  })

  it('/openapi.json compiles as JSON Schema 2020-12 and takes what the routes take (a server tool)', () => {
    const schemas = documentOf()
    const ajv = new Ajv2020({ strict: false })
    ajv.addSchema(
      JSON.parse(
        JSON.stringify({ $id: 'https://gatehouse.test/doc.json', $defs: schemas }).replaceAll(
          '#/components/schemas/',
          '#/$defs/'
        )
      )
    )
    for (const name of Object.keys(schemas))
      expect(() => ajv.getSchema(`https://gatehouse.test/doc.json#/$defs/${name}`)).not.toThrow()
    const messages = ajv.getSchema('https://gatehouse.test/doc.json#/$defs/CreateMessageRequest')!
    const request = {
      model: 'claude-sonnet-4-6',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'what is new?' }],
      tools: [
        { type: 'web_search_20250305', name: 'web_search', max_uses: 3 },
        { name: 'lookup', input_schema: { type: 'object', properties: {} } },
      ],
    }
    expect(messages(request)).toBe(true)
    expect(messagesRequestSchema.safeParse(request).success).toBe(true)
  })
})
