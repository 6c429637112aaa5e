/**
 * The Anthropic Messages API as a provider (https://docs.claude.com/en/api/messages). The base URL has no `/v1`
 * (like the SDK's `ANTHROPIC_BASE_URL`). Same-dialect traffic is forwarded byte for byte; cross-dialect traffic goes
 * through the canonical types. Every HTTP call uses the injected transport and the call's abort signal.
 */
import type {
  CallContext,
  ForwardRequest,
  ModelInfo,
  HttpProviderSettings,
  ProviderAdapter,
  UpstreamResponse,
} from '../spec/provider-adapter.ts'
import type { Operation } from '../spec/operation.ts'
import type { ChatRequest, ReasoningControl } from '../spec/chat-types.ts'
import { isProviderError, ProviderError } from '../spec/provider-error.ts'
import { anthropicMessageSchema, anthropicModelListSchema } from './anthropic-api.ts'
import { anthropicBadResponse, readAnthropicHttpError } from './anthropic-error.ts'
import { convertAnthropicResponse } from './convert-anthropic-response.ts'
import { bodyReader, readResponseBytes } from '../shared/read-response-bytes.ts'
import { convertAnthropicStream } from './convert-anthropic-stream.ts'
import { convertToAnthropicRequest } from './convert-to-anthropic-request.ts'
import { convertToAnthropicReasoning } from './convert-to-anthropic-reasoning.ts'
import { createAnthropicAnswerTap } from './create-anthropic-answer-tap.ts'
import { createAnthropicForwardTap } from './create-anthropic-forward-tap.ts'
import { withModelName } from '../shared/edit-json-text.ts'
import { unsentOpenAISettings } from '../shared/unsent-openai-settings.ts'

const utf8 = new TextDecoder()

/** Sent when the client gave none (cross-dialect calls, model lists): the version every model accepts. */
const defaultAnthropicVersion = '2023-06-01'

/** `/v1/models` pages hold at most 1000 entries; stop after this many pages whatever `has_more` says. */
const maxModelPages = 20

export const anthropicDefaultBaseUrl = 'https://api.anthropic.com'

export type AnthropicAdapterOptions = HttpProviderSettings & {
  /** Epoch milliseconds, for `created` (Anthropic sends no timestamp). Defaults to `Date.now`. */
  now?: () => number
  /**
   * The reasoning control of a model (config `models.<name>.reasoning`, else the built-in table); `undefined` for a
   * model neither knows, which takes the newest, `effort`.
   */
  reasoningControl?: (model: string) => ReasoningControl | undefined
}

type Send = {
  path: string
  method: 'GET' | 'POST'
  /** JSON text. */
  body?: string
  /** Allowlisted client headers (`anthropic-version`, `anthropic-beta`), forwarded; never client credentials. */
  clientHeaders?: Record<string, string>
}

/** The operations Anthropic serves natively, and where. */
const pathByOperation: Partial<Record<Operation, string>> = {
  messages: '/v1/messages',
  'count-tokens': '/v1/messages/count_tokens',
}
const forwards = Object.keys(pathByOperation) as Operation[]

/** The client's JSON text with the routed model's name, or the body serialized when the text cannot be edited surely. */
const forwardedText = ({ body, text, model }: ForwardRequest): string =>
  (text === undefined ? undefined : withModelName(text, body.model, model)) ??
  JSON.stringify({ ...body, model })

export const createAnthropicAdapter = (options: AnthropicAdapterOptions): ProviderAdapter => {
  const providerId = options.id
  /** A converted request's Messages body; what of its reasoning the model does not take goes on `call`. */
  const convertRequest = (request: ChatRequest, call: CallContext): Record<string, unknown> => {
    const control = options.reasoningControl?.(request.model) ?? 'effort'
    const body = convertToAnthropicRequest(request, control)
    const omitted = unsentOpenAISettings(request)
    if (request.reasoning !== undefined)
      omitted.push(...convertToAnthropicReasoning(request, control).omitted)
    if (omitted.length > 0) call.omittedParams = omitted
    return body
  }
  const now = options.now ?? Date.now
  const { transport } = options
  const baseUrl = options.baseUrl ?? anthropicDefaultBaseUrl

  const headersFor = (call: CallContext, send: Send): Record<string, string> => {
    const client = send.clientHeaders ?? {}
    const headers: Record<string, string> = {
      'anthropic-version': client['anthropic-version'] ?? defaultAnthropicVersion,
      'accept-encoding': 'identity',
    }
    if (send.body !== undefined) headers['content-type'] = 'application/json'
    if (client['anthropic-beta']) headers['anthropic-beta'] = client['anthropic-beta']
    if (options.apiKey) headers['x-api-key'] = options.apiKey
    for (const [name, value] of Object.entries(options.headers ?? {}))
      headers[name.toLowerCase()] = value
    return headers
  }

  /** Resolves only for a 2xx; any other status is read (bounded), released and thrown as a `ProviderError`. */
  const accepted = (response: UpstreamResponse): UpstreamResponse | Promise<never> =>
    response.status >= 200 && response.status <= 299
      ? response
      : readAnthropicHttpError(response, providerId).then((error) => Promise.reject(error))
  // One promise on the way: this runs on every call.
  const send = (call: CallContext, request: Send): Promise<UpstreamResponse> =>
    transport
      .request({
        url: `${baseUrl}${request.path}`,
        method: request.method,
        headers: headersFor(call, request),
        body: request.body,
        signal: call.signal,
        connectTimeoutMs: call.connectTimeoutMs,
      })
      .then(accepted)

  const readJson = async <T>(
    response: UpstreamResponse,
    schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } }
  ): Promise<T> => {
    let text: string
    try {
      text = utf8.decode(await readResponseBytes(response))
    } catch (error) {
      if (isProviderError(error)) throw error
      throw new ProviderError({
        kind: 'connection',
        status: 502,
        message: 'The connection to Anthropic failed while reading the response.',
        providerId,
        cause: error,
      })
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (error) {
      throw anthropicBadResponse(
        'Anthropic answered with a body that is not JSON.',
        providerId,
        error
      )
    }
    const parsed = schema.safeParse(json)
    if (!parsed.success)
      throw anthropicBadResponse('Anthropic answered with an unexpected body.', providerId)
    return parsed.data
  }

  const createdNow = (): number => Math.floor(now() / 1000)

  return {
    id: providerId,
    forwards,
    settlesOnAbort: transport.settlesOnAbort === true,
    requiresMaxTokens: true,

    // Not an async function (a promise and two microtasks fewer a call): what it throws, it hands back rejected.
    forward(request, call) {
      try {
        const path = pathByOperation[request.operation]
        if (path === undefined) {
          throw new ProviderError({
            kind: 'unsupported',
            status: 400,
            message: `Provider ${providerId} (Anthropic) has no ${request.operation} API.`,
            providerId,
          })
        }
        return send(call, {
          // The client's query too: the SDK's beta client (Claude Code) asks `?beta=true`, which the API takes.
          path: request.query === undefined ? path : `${path}${request.query}`,
          method: 'POST',
          // The client's own bytes, with the routed model's name edited in where it differs (`edit-json-text.ts`).
          body: forwardedText(request),
          clientHeaders: request.headers,
        })
      } catch (error) {
        return Promise.reject(error)
      }
    },

    createForwardTap: createAnthropicForwardTap,
    createAnswerTap: ({ operation, stream, onChunk }) =>
      createAnthropicAnswerTap({
        operation,
        stream,
        providerId,
        created: createdNow(),
        onChunk,
      }),

    async chat(request, call) {
      const body = convertRequest({ ...request, stream: false }, call)
      const response = await send(call, {
        path: '/v1/messages',
        method: 'POST',
        body: JSON.stringify(body),
      })
      call.upstreamHeaders = response.headers
      const message = await readJson(response, anthropicMessageSchema)
      return convertAnthropicResponse(message, createdNow())
    },

    async streamChat(request, call) {
      const body = convertRequest({ ...request, stream: true }, call)
      const response = await send(call, {
        path: '/v1/messages',
        method: 'POST',
        body: JSON.stringify(body),
      })
      call.upstreamHeaders = response.headers
      return convertAnthropicStream(bodyReader(response), { providerId, created: createdNow() })
    },

    /** Follows `has_more` pagination (https://docs.claude.com/en/api/models-list). */
    async listModels(call) {
      const models: ModelInfo[] = []
      let afterId: string | null = null
      for (let page = 0; page < maxModelPages; page++) {
        const query: string =
          afterId === null ? '?limit=1000' : `?limit=1000&after_id=${encodeURIComponent(afterId)}`
        const response = await send(call, { path: `/v1/models${query}`, method: 'GET' })
        const list = await readJson(response, anthropicModelListSchema)
        for (const model of list.data) {
          const created = model.created_at ? Date.parse(model.created_at) : Number.NaN
          models.push({
            id: model.id,
            ...(Number.isNaN(created) ? {} : { created: Math.floor(created / 1000) }),
            ...(model.display_name ? { displayName: model.display_name } : {}),
          })
        }
        afterId = list.has_more && list.last_id ? list.last_id : null
        if (afterId === null) break
      }
      return models
    },
  }
}
