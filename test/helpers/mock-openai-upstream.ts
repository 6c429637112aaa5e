/**
 * A mock OpenAI API (and, with `ignoreBase64`, a typical OpenAI-compatible server) speaking the real wire format:
 * https://platform.openai.com/docs/api-reference/chat, /embeddings, /models, and /responses (mock-responses-api.ts).
 * Shapes mirror recorded real traffic (vercel/ai `packages/openai/src/chat/__fixtures__`, openai-python
 * `.inline-snapshot`); see ../../../shared/specs/wire-notes.md §1, §5, §6, §9.
 */
import { createMockResponsesApi } from './mock-responses-api.ts'
import type { MockResponsesSettings } from './mock-responses-api.ts'
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
import { openAIErrorBody } from './openai-error-body.ts'

export { openAIErrorBody }
export const MOCK_OPENAI_API_KEY = 'sk-mock-openai-key'
export const MOCK_OPENAI_MODELS = ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small']

export type MockOpenAIUpstreamOptions = MockUpstreamOptions &
  MockResponsesSettings & {
    /** Answer float arrays even when `encoding_format: "base64"` is asked, as some OpenAI-compatible servers do. */
    ignoreBase64?: boolean
    /** Embedding length when the request sets no `dimensions`. Default 8. */
    embeddingDimensions?: number
  }

type Body = Record<string, unknown>

const defaultErrors: Record<number, Parameters<typeof openAIErrorBody>[0]> = {
  400: { message: 'Invalid request.', type: 'invalid_request_error' },
  401: {
    message: 'Incorrect API key provided.',
    type: 'invalid_request_error',
    code: 'invalid_api_key',
  },
  403: { message: 'You are not allowed to sample from this model.', type: 'invalid_request_error' },
  404: {
    message: 'The model does not exist or you do not have access to it.',
    type: 'invalid_request_error',
    code: 'model_not_found',
  },
  429: {
    message: 'Rate limit reached for requests. Please try again in 1s.',
    type: 'requests',
    code: 'rate_limit_exceeded',
  },
  500: {
    message: 'The server had an error while processing your request. Sorry about that!',
    type: 'server_error',
  },
  503: {
    message: 'The engine is currently overloaded, please try again later.',
    type: 'server_error',
  },
}

/**
 * The 64-bit float values of a deterministic embedding of `text`, each exactly representable as float32 (so a base64
 * round trip returns them unchanged), in [-1, 1).
 */
export const mockEmbedding = (text: string, dimensions: number): number[] => {
  const vector: number[] = []
  for (let index = 0; index < dimensions; index += 1) {
    let hash = 0x811c9dc5 ^ index
    for (let offset = 0; offset < text.length; offset += 1) {
      hash = Math.imul(hash ^ text.charCodeAt(offset), 0x01000193)
    }
    vector.push(Math.fround(((hash >>> 0) % 20000) / 10000 - 1))
  }
  return vector
}

/** Little-endian float32 bytes in base64, what the API sends for `encoding_format: "base64"`. */
export const encodeEmbeddingBase64 = (vector: number[]): string => {
  const bytes = Buffer.alloc(vector.length * 4)
  vector.forEach((value, index) => bytes.writeFloatLE(value, index * 4))
  return bytes.toString('base64')
}

const textOf = (content: unknown): string => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .map((part) =>
      part !== null && typeof part === 'object' && typeof part.text === 'string' ? part.text : ''
    )
    .join('')
}

const toolChoiceOf = (choice: unknown): MockToolChoice => {
  if (choice === 'none' || choice === 'required') return choice
  if (choice !== null && typeof choice === 'object') {
    const name = (choice as { function?: { name?: unknown } }).function?.name
    if (typeof name === 'string') return { name }
  }
  return 'auto'
}

const intentFor = (body: Body): MockIntent => {
  const messages = body.messages as Body[]
  const toolResults: string[] = []
  for (
    let index = messages.length - 1;
    index >= 0 && messages[index]?.role === 'tool';
    index -= 1
  ) {
    toolResults.unshift(textOf(messages[index].content))
  }
  const lastUser = [...messages].reverse().find((message) => message?.role === 'user')
  const tools: MockTool[] = Array.isArray(body.tools)
    ? (body.tools as Body[])
        .filter((tool) => tool?.type === 'function')
        .map((tool) => {
          const fn = tool.function as Body
          return { name: String(fn.name), schema: fn.parameters }
        })
    : []
  return decideIntent({
    lastUserText: textOf(lastUser?.content),
    toolResults,
    tools,
    toolChoice: toolChoiceOf(body.tool_choice),
    parallelAllowed: body.parallel_tool_calls !== false,
  })
}

const usageOf = (options: { prompt: number; completion: number; cached: number }) => ({
  prompt_tokens: options.prompt,
  completion_tokens: options.completion,
  total_tokens: options.prompt + options.completion,
  prompt_tokens_details: { cached_tokens: options.cached, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
})

const chatCompletion = (options: {
  body: Body
  requestId: string
  settings: MockOpenAIUpstreamOptions
}): MockReply => {
  const { body, settings } = options
  if (typeof body.model !== 'string') {
    return errorReply(400, {
      message: 'you must provide a model parameter',
      type: 'invalid_request_error',
    })
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    const message = "Missing required parameter: 'messages'."
    return errorReply(400, {
      message,
      type: 'invalid_request_error',
      param: 'messages',
      code: 'missing_required_parameter',
    })
  }
  const id = `chatcmpl-${options.requestId.slice(4)}`
  const created = Math.floor(Date.now() / 1000)
  const model = body.model
  const intent = intentFor(body)
  const maxTokens = (body.max_completion_tokens ?? body.max_tokens) as number | undefined
  const limited = intent.kind === 'text' ? limitText(intent.text, maxTokens) : undefined
  const calls =
    intent.kind === 'tools'
      ? intent.calls.map((call, index) => ({
          id: `call_${options.requestId.slice(4)}${index}`,
          name: call.name,
          arguments: JSON.stringify(call.input),
        }))
      : []
  const finishReason = limited === undefined ? 'tool_calls' : limited.truncated ? 'length' : 'stop'
  const cached = settings.cacheReadTokens ?? 0
  const prompt =
    estimateTokens(JSON.stringify(body.messages) + JSON.stringify(body.tools ?? '')) + cached
  const completion =
    limited !== undefined
      ? limited.truncated
        ? (maxTokens as number)
        : estimateTokens(limited.text)
      : estimateTokens(calls.map((call) => call.name + call.arguments).join(''))
  const usage = usageOf({ prompt, completion, cached })
  const envelope = {
    id,
    created,
    model,
    service_tier: 'default',
    system_fingerprint: 'fp_mock0001',
  }

  if (body.stream !== true) {
    const message =
      limited !== undefined
        ? { role: 'assistant', content: limited.text, refusal: null, annotations: [] }
        : {
            role: 'assistant',
            content: null,
            tool_calls: calls.map((call) => ({
              id: call.id,
              type: 'function',
              function: { name: call.name, arguments: call.arguments },
            })),
            refusal: null,
            annotations: [],
          }
    const choice = { index: 0, message, logprobs: null, finish_reason: finishReason }
    return {
      kind: 'json',
      status: 200,
      body: { ...envelope, object: 'chat.completion', choices: [choice], usage },
    }
  }

  const includeUsage = (body.stream_options as Body | undefined)?.include_usage === true
  let sequence = 0
  const chunk = (choices: unknown[], extra?: Body): string => {
    sequence += 1
    const payload = {
      ...envelope,
      object: 'chat.completion.chunk',
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
      obfuscation: 'mock'.repeat(sequence % 3),
    }
    return `data: ${JSON.stringify(payload)}\n\n`
  }
  const delta = (value: Body, finish: string | null = null) => [
    { index: 0, delta: value, logprobs: null, finish_reason: finish },
  ]
  const events: string[] = []
  if (limited !== undefined) {
    events.push(chunk(delta({ role: 'assistant', content: '', refusal: null })))
    for (const piece of splitIntoPieces(limited.text, settings.streamChunks ?? 4)) {
      if (piece !== '') events.push(chunk(delta({ content: piece })))
    }
  } else {
    events.push(chunk(delta({ role: 'assistant', content: null, refusal: null })))
    calls.forEach((call, index) => {
      const first = {
        index,
        id: call.id,
        type: 'function',
        function: { name: call.name, arguments: '' },
      }
      events.push(chunk(delta({ tool_calls: [first] })))
      for (const piece of splitIntoPieces(call.arguments, 3)) {
        events.push(chunk(delta({ tool_calls: [{ index, function: { arguments: piece } }] })))
      }
    })
  }
  events.push(chunk(delta({}, finishReason)))
  if (includeUsage) events.push(chunk([], { usage }))
  events.push('data: [DONE]\n\n')
  return {
    kind: 'sse',
    events,
    inBandError: ({ error }) => {
      const payload = openAIErrorBody({
        message:
          error?.message ??
          'The server had an error while processing your request. Sorry about that!',
        type: error?.type ?? 'server_error',
      })
      return `data: ${JSON.stringify(payload)}\n\n`
    },
  }
}

const embeddings = (body: Body, settings: MockOpenAIUpstreamOptions): MockReply => {
  if (typeof body.model !== 'string') {
    return errorReply(400, {
      message: 'you must provide a model parameter',
      type: 'invalid_request_error',
    })
  }
  const raw = body.input
  const inputs: unknown[] =
    Array.isArray(raw) && raw.length > 0 && typeof raw[0] !== 'number' ? raw : [raw]
  if (raw === undefined || raw === '' || (Array.isArray(raw) && raw.length === 0)) {
    return errorReply(400, {
      message: "'$.input' is invalid.",
      type: 'invalid_request_error',
      param: 'input',
    })
  }
  const dimensions =
    typeof body.dimensions === 'number' ? body.dimensions : (settings.embeddingDimensions ?? 8)
  const base64 = body.encoding_format === 'base64' && settings.ignoreBase64 !== true
  let promptTokens = 0
  const data = inputs.map((input, index) => {
    const text = typeof input === 'string' ? input : JSON.stringify(input)
    promptTokens += Array.isArray(input) ? input.length : estimateTokens(text)
    const vector = mockEmbedding(text, dimensions)
    return {
      object: 'embedding',
      index,
      embedding: base64 ? encodeEmbeddingBase64(vector) : vector,
    }
  })
  const usage = { prompt_tokens: promptTokens, total_tokens: promptTokens }
  return { kind: 'json', status: 200, body: { object: 'list', data, model: body.model, usage } }
}

const modelObject = (id: string) => ({
  id,
  object: 'model',
  created: 1_715_367_049,
  owned_by: 'system',
})

const errorReply = (status: number, error: Parameters<typeof openAIErrorBody>[0]): JsonReply => ({
  kind: 'json',
  status,
  body: openAIErrorBody(error),
})

/** Starts a mock OpenAI upstream; its `baseUrl` ends in `/v1`, like `OPENAI_BASE_URL`. */
export const startMockOpenAIUpstream = (
  settings: MockOpenAIUpstreamOptions = {}
): Promise<MockUpstream> => {
  const apiKey = settings.apiKey ?? MOCK_OPENAI_API_KEY
  const models = settings.models ?? MOCK_OPENAI_MODELS
  const responses = createMockResponsesApi(settings)
  const dialect: MockDialect = {
    basePath: '/v1',
    reset: responses.reset,
    headers: (requestId) => ({
      'x-request-id': requestId,
      'openai-processing-ms': '1',
      'x-ratelimit-limit-requests': '10000',
      'x-ratelimit-remaining-requests': '9999',
      'x-ratelimit-reset-requests': '6ms',
    }),
    errorBody: (status) =>
      openAIErrorBody(defaultErrors[status] ?? defaultErrors[status >= 500 ? 500 : 400]),
    answer: (request: RecordedRequest, requestId: string): MockReply => {
      const authorization = request.headers.authorization
      if (authorization === undefined) {
        const message =
          "You didn't provide an API key. You need to provide your API key in an Authorization header."
        return errorReply(401, { message, type: 'invalid_request_error' })
      }
      if (authorization !== `Bearer ${apiKey}`) {
        return errorReply(401, {
          ...defaultErrors[401],
          message: 'Incorrect API key provided: (redacted).',
        })
      }
      const [path, query = ''] = request.path.split('?')
      if (typeof request.body === 'string') {
        const message =
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"
        return errorReply(400, { message, type: 'invalid_request_error' })
      }
      const body = (request.body ?? {}) as Body
      if (request.method === 'POST' && path === '/v1/chat/completions')
        return chatCompletion({ body, requestId, settings })
      if (request.method === 'POST' && path === '/v1/embeddings') return embeddings(body, settings)
      if (request.method === 'POST' && path === '/v1/responses') return responses.create(body)
      const stored = /^\/v1\/responses\/([^/]+)(?:\/(input_items|cancel))?$/.exec(path)
      if (stored !== null) {
        const id = decodeURIComponent(stored[1])
        const part = stored[2]
        if (request.method === 'GET' && part === 'input_items')
          return responses.inputItems(id, new URLSearchParams(query))
        if (request.method === 'GET' && part === undefined)
          return responses.retrieve(id, new URLSearchParams(query))
        if (request.method === 'DELETE' && part === undefined) return responses.remove(id)
        if (request.method === 'POST' && part === 'cancel') return responses.cancel(id)
      }
      if (request.method === 'GET' && path === '/v1/models') {
        return {
          kind: 'json',
          status: 200,
          body: { object: 'list', data: models.map(modelObject) },
        }
      }
      if (request.method === 'GET' && path.startsWith('/v1/models/')) {
        const id = decodeURIComponent(path.slice('/v1/models/'.length))
        if (models.includes(id)) return { kind: 'json', status: 200, body: modelObject(id) }
        const message = `The model '${id}' does not exist`
        return errorReply(404, {
          message,
          type: 'invalid_request_error',
          param: 'model',
          code: 'model_not_found',
        })
      }
      return errorReply(404, {
        message: `Invalid URL (${request.method} ${path})`,
        type: 'invalid_request_error',
      })
    },
  }
  return startMockUpstreamServer(dialect, settings)
}
