/**
 * A mock Anthropic Messages API speaking the real wire format (https://docs.claude.com/en/api/messages,
 * https://docs.claude.com/en/docs/build-with-claude/streaming, https://docs.claude.com/en/api/errors). Shapes mirror
 * recorded real traffic (vercel/ai `packages/anthropic/src/__fixtures__`): `event:` lines on every SSE event, a `ping`,
 * usage with cache fields, no `citations` key on text blocks. See ../../../shared/specs/wire-notes.md §2, §3, §5.
 */
import {
  decideIntent,
  estimateTokens,
  limitText,
  splitIntoPieces,
  startMockUpstreamServer,
} from './mock-upstream-server.ts'
import type {
  JsonReply,
  MockDialect,
  MockIntent,
  MockReply,
  MockTool,
  MockToolChoice,
  MockUpstream,
  MockUpstreamOptions,
  RecordedRequest,
} from './mock-upstream-server.ts'

export const MOCK_ANTHROPIC_API_KEY = 'sk-ant-mock-key'
export const MOCK_ANTHROPIC_MODELS = [
  'claude-haiku-4-5-20251001',
  'claude-opus-4-7',
  'claude-sonnet-4-6',
]

type Body = Record<string, unknown>

/** The `{type:'error',error:{type,message},request_id}` body. */
export const anthropicErrorBody = (options: {
  type: string
  message: string
  requestId: string
}) => ({
  type: 'error',
  error: { type: options.type, message: options.message },
  request_id: options.requestId,
})

const defaultErrors: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: {
    type: 'permission_error',
    message: 'Your API key does not have permission to use the specified resource.',
  },
  404: { type: 'not_found_error', message: 'The requested resource could not be found.' },
  413: {
    type: 'request_too_large',
    message: 'Request exceeds the maximum allowed number of bytes.',
  },
  429: {
    type: 'rate_limit_error',
    message: 'Number of request tokens has exceeded your per-minute rate limit.',
  },
  500: { type: 'api_error', message: 'Internal server error' },
  504: { type: 'timeout_error', message: 'Request timed out' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
}

const blocksText = (content: unknown, type: 'text'): string => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .map((block) => (block?.type === type && typeof block.text === 'string' ? block.text : ''))
    .join('')
}

const toolChoiceOf = (choice: unknown): MockToolChoice => {
  const value = (choice ?? {}) as Body
  if (value.type === 'none') return 'none'
  if (value.type === 'any') return 'required'
  if (value.type === 'tool' && typeof value.name === 'string') return { name: value.name }
  return 'auto'
}

const intentFor = (body: Body): MockIntent => {
  const messages = body.messages as Body[]
  const last = messages[messages.length - 1]
  const toolResults =
    last?.role === 'user' && Array.isArray(last.content)
      ? (last.content as Body[])
          .filter((block) => block?.type === 'tool_result')
          .map((block) => blocksText(block.content, 'text'))
      : []
  const lastUser = [...messages].reverse().find((message) => message?.role === 'user')
  const tools: MockTool[] = Array.isArray(body.tools)
    ? (body.tools as Body[])
        .filter((tool) => tool?.input_schema !== undefined)
        .map((tool) => ({ name: String(tool.name), schema: tool.input_schema }))
    : []
  const choice = (body.tool_choice ?? {}) as Body
  return decideIntent({
    lastUserText: blocksText(lastUser?.content, 'text'),
    toolResults,
    tools,
    toolChoice: toolChoiceOf(body.tool_choice),
    parallelAllowed: choice.disable_parallel_tool_use !== true,
  })
}

const inputTokensOf = (body: Body): number =>
  estimateTokens(
    JSON.stringify(body.messages) +
      JSON.stringify(body.system ?? '') +
      JSON.stringify(body.tools ?? '')
  )

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }

const messages = (options: {
  body: Body
  requestId: string
  settings: MockUpstreamOptions
}): MockReply => {
  const { body, settings, requestId } = options
  const invalid = (message: string) =>
    errorReply({ status: 400, type: 'invalid_request_error', message, requestId })
  if (typeof body.model !== 'string') return invalid('model: Field required')
  if (typeof body.max_tokens !== 'number') return invalid('max_tokens: Field required')
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return invalid('messages: Field required')
  const suffix = requestId.slice(4)
  const intent = intentFor(body)
  const limited = intent.kind === 'text' ? limitText(intent.text, body.max_tokens) : undefined
  const blocks: Block[] =
    limited !== undefined
      ? [{ type: 'text', text: limited.text }]
      : [
          {
            type: 'text',
            text: `I'll call ${intent.kind === 'tools' ? intent.calls.map((call) => call.name).join(' and ') : ''}.`,
          },
          ...(intent.kind === 'tools' ? intent.calls : []).map((call, index) => ({
            type: 'tool_use' as const,
            id: `toolu_${suffix}${index}`,
            name: call.name,
            input: call.input,
          })),
        ]
  const stopReason =
    limited === undefined ? 'tool_use' : limited.truncated ? 'max_tokens' : 'end_turn'
  const outputTokens = limited?.truncated
    ? body.max_tokens
    : estimateTokens(
        blocks
          .map((block) =>
            block.type === 'text' ? block.text : block.name + JSON.stringify(block.input)
          )
          .join('')
      )
  const cacheRead = settings.cacheReadTokens ?? 0
  const cacheWrite = settings.cacheWriteTokens ?? 0
  const inputTokens = inputTokensOf(body)
  const usage = {
    input_tokens: inputTokens,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    cache_creation: {
      ephemeral_5m_input_tokens: cacheWrite - (settings.cacheWrite1hTokens ?? 0),
      ephemeral_1h_input_tokens: settings.cacheWrite1hTokens ?? 0,
    },
    output_tokens: outputTokens,
    service_tier: 'standard',
  }
  const shell = { model: body.model, id: `msg_${suffix}`, type: 'message', role: 'assistant' }
  if (body.stream !== true) {
    const message = {
      ...shell,
      content: blocks,
      stop_reason: stopReason,
      stop_sequence: null,
      stop_details: null,
      usage,
    }
    return { kind: 'json', status: 200, body: message }
  }

  const event = (data: Body & { type: string }) =>
    `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`
  const events = [
    event({
      type: 'message_start',
      message: {
        ...shell,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
  ]
  let pinged = false
  blocks.forEach((block, index) => {
    if (block.type === 'text') {
      events.push(
        event({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } })
      )
      for (const text of splitIntoPieces(block.text, settings.streamChunks ?? 4)) {
        events.push(
          event({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } })
        )
        if (!pinged) events.push(event({ type: 'ping' }))
        pinged = true
      }
    } else {
      const start = { type: 'tool_use', id: block.id, name: block.name, input: {} }
      events.push(event({ type: 'content_block_start', index, content_block: start }))
      const json = Object.keys(block.input).length === 0 ? '' : JSON.stringify(block.input)
      for (const partial_json of json === '' ? [''] : splitIntoPieces(json, 3)) {
        events.push(
          event({
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json },
          })
        )
      }
    }
    events.push(event({ type: 'content_block_stop', index }))
  })
  events.push(
    event({
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: {
        input_tokens: inputTokens,
        cache_creation_input_tokens: cacheWrite,
        cache_read_input_tokens: cacheRead,
        output_tokens: outputTokens,
      },
    }),
    event({ type: 'message_stop' })
  )
  return {
    kind: 'sse',
    events,
    inBandError: ({ error }) =>
      event({
        type: 'error',
        error: { type: error?.type ?? 'overloaded_error', message: error?.message ?? 'Overloaded' },
      }),
  }
}

const displayName = (id: string): string =>
  id
    .replace(/-\d{8}$/, '')
    .split('-')
    .map((word) => (/^\d+$/.test(word) ? word : word.charAt(0).toUpperCase() + word.slice(1)))
    .join(' ')
    .replace(/(\d) (?=\d)/g, '$1.')

const modelInfo = (id: string) => ({
  type: 'model',
  id,
  display_name: displayName(id),
  created_at: '2025-09-29T00:00:00Z',
  capabilities: null,
  deprecated_at: null,
  lifecycle: 'active',
  line: null,
  max_input_tokens: 200_000,
  max_tokens: 64_000,
  retires_at: null,
})

const errorReply = (options: {
  status: number
  type: string
  message: string
  requestId: string
}): JsonReply => ({
  kind: 'json',
  status: options.status,
  body: anthropicErrorBody(options),
})

/** Starts a mock Anthropic upstream; its `baseUrl` is the origin (no `/v1`), like `ANTHROPIC_BASE_URL`. */
export const startMockAnthropicUpstream = (
  settings: MockUpstreamOptions = {}
): Promise<MockUpstream> => {
  const apiKey = settings.apiKey ?? MOCK_ANTHROPIC_API_KEY
  const models = settings.models ?? MOCK_ANTHROPIC_MODELS
  const dialect: MockDialect = {
    basePath: '',
    headers: (requestId) => ({ 'request-id': requestId }),
    errorBody: (status, requestId) =>
      anthropicErrorBody({
        ...(defaultErrors[status] ?? defaultErrors[status >= 500 ? 500 : 400]),
        requestId,
      }),
    answer: (request: RecordedRequest, requestId: string): MockReply => {
      const fail = (status: number, type: string, message: string) =>
        errorReply({ status, type, message, requestId })
      // @anthropic-ai/sdk 1.x sends the API key as `Authorization: Bearer`; direct callers and older SDKs use `x-api-key`.
      const bearer = request.headers.authorization?.match(/^Bearer (.+)$/)?.[1]
      const key = request.headers['x-api-key'] ?? bearer
      if (key === undefined)
        return fail(401, 'authentication_error', 'x-api-key header is required')
      if (key !== apiKey) return fail(401, 'authentication_error', 'invalid x-api-key')
      if (request.headers['anthropic-version'] === undefined) {
        return fail(400, 'invalid_request_error', 'anthropic-version: header is required')
      }
      if (typeof request.body === 'string') {
        return fail(
          400,
          'invalid_request_error',
          'There was an issue with your request body: invalid JSON'
        )
      }
      const path = request.path.split('?')[0]
      const body = (request.body ?? {}) as Body
      if (request.method === 'POST' && path === '/v1/messages')
        return messages({ body, requestId, settings })
      if (request.method === 'POST' && path === '/v1/messages/count_tokens') {
        if (!Array.isArray(body.messages))
          return fail(400, 'invalid_request_error', 'messages: Field required')
        return { kind: 'json', status: 200, body: { input_tokens: inputTokensOf(body) } }
      }
      if (request.method === 'GET' && path === '/v1/models') {
        const data = models.map(modelInfo)
        const body = {
          data,
          has_more: false,
          first_id: models[0] ?? null,
          last_id: models[models.length - 1] ?? null,
        }
        return { kind: 'json', status: 200, body }
      }
      if (request.method === 'GET' && path.startsWith('/v1/models/')) {
        const id = decodeURIComponent(path.slice('/v1/models/'.length))
        if (models.includes(id)) return { kind: 'json', status: 200, body: modelInfo(id) }
        return fail(404, 'not_found_error', `model: ${id}`)
      }
      return fail(404, 'not_found_error', 'Not Found')
    },
  }
  return startMockUpstreamServer(dialect, settings)
}
