/**
 * The OpenAI dialect upstream: api.openai.com and every OpenAI-compatible server (vLLM, Ollama, Groq, Together...),
 * whose differences are `OpenAICompat` flags. https://platform.openai.com/docs/api-reference/chat
 *
 * Base URLs include `/v1` (like the SDK's `OPENAI_BASE_URL`). All HTTP goes through the injected transport; client
 * credentials never reach the upstream, only the configured key.
 */
import type { ChatRequest, ReasoningControl, ReasoningEffort } from '../spec/chat-types.ts'
import type {
  CallContext,
  ForwardRequest,
  ForwardResponse,
  ModelInfo,
  HttpProviderSettings,
  ProviderAdapter,
  StoredObjectRequest,
  UpstreamRequest,
  UpstreamResponse,
} from '../spec/provider-adapter.ts'
import type { Operation } from '../spec/operation.ts'
import { isProviderError, ProviderError } from '../spec/provider-error.ts'
import { isGatewayReasoningItem } from '../spec/gateway-reasoning.ts'
import { applyOpenAICompat, realOpenAICompat, type OpenAICompat } from './apply-openai-compat.ts'
import { convertOpenAIChatResponse } from './convert-openai-chat-response.ts'
import { convertOpenAIResponsesResult } from './convert-openai-responses-result.ts'
import { convertToOpenAIRequest } from './convert-to-openai-request.ts'
import { convertToOpenAIResponsesRequest } from './convert-to-openai-responses-request.ts'
import { convertToOpenAIReasoningEffort } from './convert-to-openai-reasoning-effort.ts'
import { createUsageStripper } from './strip-injected-usage.ts'
import { createOpenAIAnswerTap } from './create-openai-answer-tap.ts'
import { createOpenAIForwardTap } from './create-openai-forward-tap.ts'
import { prependMember, withModelName } from '../shared/edit-json-text.ts'
import { openAIChatCompletionSchema, openAIModelListSchema } from './openai-api.ts'
import { bodyReader, readResponseBytes } from '../shared/read-response-bytes.ts'
import { parseOpenAIChatStream } from './parse-openai-chat-stream.ts'
import { parseOpenAIResponsesStream } from './parse-openai-responses-stream.ts'
import { readOpenAIError } from './read-openai-error.ts'

export type { OpenAICompat } from './apply-openai-compat.ts'

/**
 * The operations an OpenAI-compatible server serves natively, and where. `/responses` only where the server has it
 * (`compat.responses`: OpenAI, and servers configured so); elsewhere a Responses request is converted.
 */
const allPaths: Partial<Record<Operation, string>> = {
  'chat-completions': '/chat/completions',
  embeddings: '/embeddings',
  responses: '/responses',
}

export const openAIDefaultBaseUrl = 'https://api.openai.com/v1'

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

const utf8 = new TextDecoder()

/** A whole answer as text, read at most `maxWholeBodyBytes` (`readResponseBytes`). */
const readText = async (response: UpstreamResponse): Promise<string> =>
  utf8.decode(await readResponseBytes(response))

/**
 * The client's JSON text with the upstream model's name and, when injected, `stream_options.include_usage`; `undefined`
 * when an edit is not sure (then the body is serialized). The injected option is added only when the body has no
 * `stream_options` at all: one that exists (without `include_usage: true`) is merged by serializing.
 */
/** Marks a forwarded answer whose usage the gateway asked for, so that the client's stream goes without it. */
const withUsageStripper = (response: ForwardResponse): ForwardResponse => {
  response.createClientRewrite = createUsageStripper
  return response
}

const editForwardedText = (
  text: string,
  given: Record<string, unknown>,
  model: string,
  injectUsage: boolean
): string | undefined => {
  const edited = withModelName(text, given.model, model)
  if (!injectUsage || edited === undefined) return edited
  return given.stream_options === undefined
    ? prependMember(edited, 'stream_options', '{"include_usage":true}')
    : undefined
}

/**
 * A streamed chat whose client did not ask for usage still gets it from the upstream, so that every token is
 * accounted for; the client's bytes are then stripped back to what it asked for (`strip-injected-usage.ts`).
 * Servers that reject `stream_options` (compat) are left alone: their usage stays unknown.
 */
const wantsInjectedUsage = (body: Record<string, unknown>, compat: OpenAICompat): boolean =>
  body.stream === true &&
  compat.streamOptions &&
  (body.stream_options as { include_usage?: unknown } | null | undefined)?.include_usage !== true

export type OpenAIAdapterOptions = HttpProviderSettings & {
  compat?: OpenAICompat
  /**
   * Whether the upstream serves a model only through its Responses API (OpenAI's pro and Codex models; config
   * `models.<name>.api`). Such a model's chats go to `/responses`, converted, where the server has that API
   * (`compat.responses`), and Chat Completions requests for it are not forwarded. Absent: none is.
   */
  responsesOnly?: (model: string) => boolean
  /**
   * The reasoning control of a model (config `models.<name>.reasoning`, else the built-in table); `undefined` for a
   * model neither knows, which is sent `reasoning_effort` for the upstream to judge.
   */
  reasoningControl?: (model: string) => ReasoningControl | undefined
}

export const createOpenAIAdapter = (options: OpenAIAdapterOptions): ProviderAdapter => {
  const providerId = options.id
  const compat = options.compat ?? realOpenAICompat
  const { transport } = options
  const baseUrl = options.baseUrl ?? openAIDefaultBaseUrl
  const configHeaders = options.headers ?? {}
  const hasConfigHeaders = Object.keys(configHeaders).length > 0
  const paths: Partial<Record<Operation, string>> = { ...allPaths }
  if (!compat.responses) delete paths.responses
  const forwards = Object.keys(paths) as Operation[]
  const responsesOnly = options.responsesOnly
  const viaResponses = (model: string): boolean =>
    compat.responses && responsesOnly !== undefined && responsesOnly(model)
  /** What the model takes of a converted request's reasoning; what it does not goes on `call`. */
  const reasoningEffortFor = (
    request: ChatRequest,
    call: CallContext
  ): ReasoningEffort | undefined => {
    if (request.reasoning === undefined) return undefined
    const control = options.reasoningControl?.(request.model) ?? 'openai'
    const { effort, omitted } = convertToOpenAIReasoningEffort(request, control)
    if (omitted.length > 0) call.omittedParams = omitted
    return effort
  }

  const headersFor = (call: CallContext, json: boolean): Record<string, string> => {
    const headers: Record<string, string> = {
      'accept-encoding': 'identity',
      'x-request-id': call.requestId,
    }
    if (json) headers['content-type'] = 'application/json'
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`
    return hasConfigHeaders ? { ...headers, ...configHeaders } : headers
  }

  /** A 2xx answer as it is; any other status read, its body released, and thrown as a `ProviderError`. */
  const accepted = (response: UpstreamResponse): UpstreamResponse | Promise<never> =>
    response.status >= 200 && response.status <= 299
      ? response
      : readOpenAIError({ response, providerId }).then((error) => Promise.reject(error))

  /** Sends one request (one promise on the way: this runs on every call). */
  const send = (
    call: CallContext,
    request: Pick<UpstreamRequest, 'method' | 'body'> & { path: string }
  ): Promise<UpstreamResponse> =>
    transport
      .request({
        url: `${baseUrl}${request.path}`,
        method: request.method,
        headers: headersFor(call, request.body !== undefined),
        body: request.body,
        signal: call.signal,
        connectTimeoutMs: call.connectTimeoutMs,
      })
      .then(accepted)

  /** Reads a whole 2xx JSON body; an unreadable one is the upstream's fault (502). */
  const readJson = async (response: UpstreamResponse): Promise<unknown> => {
    let text: string
    try {
      text = await readText(response)
    } catch (error) {
      if (isProviderError(error)) throw error
      throw new ProviderError({
        kind: 'connection',
        status: 502,
        message: 'The connection to the upstream failed while reading its answer.',
        providerId,
        cause: error,
      })
    }
    try {
      return JSON.parse(text)
    } catch (error) {
      throw new ProviderError({
        kind: 'bad-response',
        status: 502,
        message: 'The upstream answered with a body that is not valid JSON.',
        providerId,
        detail: text.slice(0, 2048),
        cause: error,
      })
    }
  }

  const badShape = (message: string, detail: string): ProviderError =>
    new ProviderError({ kind: 'bad-response', status: 502, message, providerId, detail })

  /** A chat for a Responses-only model: a Responses request, its `Response` converted back. */
  const chatViaResponses = async (request: ChatRequest, call: CallContext) => {
    const body = convertToOpenAIResponsesRequest(request, reasoningEffortFor(request, call))
    const response = await send(call, {
      path: '/responses',
      method: 'POST',
      body: JSON.stringify(body),
    })
    call.upstreamHeaders = response.headers
    const value = await readJson(response)
    if (
      typeof value !== 'object' ||
      value === null ||
      Array.isArray(value) ||
      !('output' in value)
    ) {
      throw badShape(
        'The upstream answered with a response of an unexpected shape.',
        JSON.stringify(value).slice(0, 2048)
      )
    }
    return convertOpenAIResponsesResult({
      response: value as Record<string, unknown>,
      model: request.model,
      now: nowSeconds(),
      providerId,
    })
  }

  const streamChatViaResponses = async (request: ChatRequest, call: CallContext) => {
    const body = convertToOpenAIResponsesRequest(request, reasoningEffortFor(request, call))
    body.stream = true
    const response = await send(call, {
      path: '/responses',
      method: 'POST',
      body: JSON.stringify(body),
    })
    call.upstreamHeaders = response.headers
    return parseOpenAIResponsesStream(bodyReader(response), {
      providerId,
      model: request.model,
      now: nowSeconds(),
    })
  }

  /** `forward`'s work; may throw. */
  const forwardNow = (request: ForwardRequest, call: CallContext): Promise<ForwardResponse> => {
    const path = paths[request.operation]
    if (path === undefined) {
      throw new ProviderError({
        kind: 'unsupported',
        status: 400,
        message: `The provider \`${providerId}\` speaks the OpenAI API, which has no \`${request.operation}\` operation.`,
        providerId,
      })
    }
    const given = request.body
    const chat = request.operation === 'chat-completions'
    const injectUsage = chat && wantsInjectedUsage(given, compat)
    // Reasoning a converted answer carried (an Anthropic signature) is of no use to OpenAI, which would refuse it.
    const dropReasoning =
      request.operation === 'responses' &&
      Array.isArray(given.input) &&
      given.input.some(isGatewayReasoningItem)
    // The client's own bytes, edited in place where the model's name or the usage option must change
    // (`edit-json-text.ts`); the body serialized anew when anything else must, or when an edit is not sure.
    let text =
      request.text !== undefined &&
      !dropReasoning &&
      (!chat || applyOpenAICompat(given, compat) === given)
        ? editForwardedText(request.text, given, request.model, injectUsage)
        : undefined
    if (text === undefined) {
      const body: Record<string, unknown> = { ...given, model: request.model }
      if (dropReasoning)
        body.input = (body.input as unknown[]).filter((item) => !isGatewayReasoningItem(item))
      if (injectUsage)
        body.stream_options = {
          ...(body.stream_options as object | null | undefined),
          include_usage: true,
        }
      text = JSON.stringify(chat ? applyOpenAICompat(body, compat) : body)
    }
    const sent: Promise<ForwardResponse> = send(call, { path, method: 'POST', body: text })
    return injectUsage ? sent.then(withUsageStripper) : sent
  }

  return {
    id: providerId,
    forwards,
    settlesOnAbort: transport.settlesOnAbort === true,
    forwardsModel: (operation, model) => operation !== 'chat-completions' || !viaResponses(model),

    // Not an async function (a promise and two microtasks fewer a call): what it throws, it hands back rejected.
    forward(request: ForwardRequest, call: CallContext): Promise<ForwardResponse> {
      try {
        return forwardNow(request, call)
      } catch (error) {
        return Promise.reject(error)
      }
    },

    // What OpenAI stored for this credential: https://platform.openai.com/docs/api-reference/responses/get (and
    // /delete, /input-items, /cancel).
    async requestStored(request: StoredObjectRequest, call: CallContext) {
      if (request.operation !== 'responses' || paths.responses === undefined) {
        throw new ProviderError({
          kind: 'unsupported',
          status: 400,
          message: `The provider \`${providerId}\` keeps no stored \`${request.operation}\` objects.`,
          providerId,
        })
      }
      const query = new URLSearchParams(request.query as [string, string][]).toString()
      const part = request.part === undefined ? '' : `/${request.part}`
      return send(call, {
        path: `/responses/${encodeURIComponent(request.id)}${part}${query === '' ? '' : `?${query}`}`,
        method: request.method,
      })
    },

    createForwardTap: createOpenAIForwardTap,
    createAnswerTap: ({ operation, stream, onChunk }) =>
      createOpenAIAnswerTap({ operation, stream, providerId, now: nowSeconds, onChunk }),

    async chat(request: ChatRequest, call: CallContext) {
      if (viaResponses(request.model)) return chatViaResponses(request, call)
      const body = convertToOpenAIRequest(request, compat, reasoningEffortFor(request, call))
      const response = await send(call, {
        path: '/chat/completions',
        method: 'POST',
        body: JSON.stringify(body),
      })
      call.upstreamHeaders = response.headers
      const value = await readJson(response)
      const parsed = openAIChatCompletionSchema.safeParse(value)
      if (!parsed.success) {
        throw badShape(
          'The upstream answered with a chat completion of an unexpected shape.',
          JSON.stringify(value).slice(0, 2048)
        )
      }
      return convertOpenAIChatResponse({
        completion: parsed.data,
        model: request.model,
        now: nowSeconds(),
      })
    },

    async streamChat(request: ChatRequest, call: CallContext) {
      if (viaResponses(request.model)) return streamChatViaResponses(request, call)
      const body = convertToOpenAIRequest(request, compat, reasoningEffortFor(request, call))
      body.stream = true
      if (compat.streamOptions) body.stream_options = { include_usage: true }
      const response = await send(call, {
        path: '/chat/completions',
        method: 'POST',
        body: JSON.stringify(body),
      })
      call.upstreamHeaders = response.headers
      return parseOpenAIChatStream(bodyReader(response), {
        providerId,
        model: request.model,
        now: nowSeconds(),
      })
    },

    async listModels(call: CallContext): Promise<ModelInfo[]> {
      const response = await send(call, { path: '/models', method: 'GET' })
      const value = await readJson(response)
      const parsed = openAIModelListSchema.safeParse(value)
      if (!parsed.success) {
        throw badShape(
          'The upstream answered with a model list of an unexpected shape.',
          JSON.stringify(value).slice(0, 2048)
        )
      }
      return parsed.data.data.map((model) => {
        const info: ModelInfo = { id: model.id }
        if (typeof model.created === 'number') info.created = model.created
        if (typeof model.owned_by === 'string') info.ownedBy = model.owned_by
        return info
      })
    },
  }
}
