/**
 * The shared body of the chat-shaped routes (OpenAI chat completions, Anthropic messages and count_tokens): build the
 * executor call, run it, respond in the client's dialect, record usage when the body ends.
 */
import type { Context } from 'hono'
import type { ChatRequest } from '../../providers/spec/chat-types.ts'
import type { Deps } from '../deps.ts'
import type { ChatCall, Executor } from '../core/execute.ts'
import { createUsageRecorder, type UsageEvent, type UsageRecorder } from '../core/usage.ts'
import type { GatewayEnv } from '../middleware/gateway-env.ts'
import type { DialectCodec } from './dialect-codec.ts'
import { respondChat } from './respond-chat.ts'
import { takeRequestIdHeaders } from '../middleware/request-context.ts'

/** Client headers that may reach an upstream (lower-case). Credentials never do: the adapter sets the provider's. */
const forwardedClientHeaders = ['anthropic-version', 'anthropic-beta'] as const

export type ChatHandlerOptions = {
  deps: Deps
  executor: Executor
  codec: DialectCodec
  operation: ChatCall['operation']
  /** Converts the client's body to the canonical request for `model` (only called for cross-dialect targets). */
  convert: (body: Record<string, unknown>, model: string) => ChatRequest
  /** A rewrite of the non-streamed answer this body asks for (float embeddings → base64). */
  transformFor?: (body: Record<string, unknown>) => ((bytes: Uint8Array) => Uint8Array) | undefined
}

/** What one request brings to `handleChat`, beside the route's fixed options. */
type ChatRequestParts = {
  c: Context<GatewayEnv>
  body: Record<string, unknown>
  model: string
  stream: boolean
  transformBody?: (bytes: Uint8Array) => Uint8Array
}

/**
 * The handler of a chat-shaped route, run after zod validated the body. It takes the body as zod returned it: the
 * request schemas are loose at every level and add nothing, so that is the client's JSON with every unknown field,
 * only with the schema's keys first. Reading the client's JSON again would parse the body a second time, which for
 * a long conversation costs more than everything else the gateway does with it.
 */
export const createChatHandler = (options: ChatHandlerOptions) => {
  const usage = createUsageRecorder(options.deps)
  return async (c: Context<GatewayEnv>): Promise<Response> => {
    const body = c.req.valid('json' as never) as Record<string, unknown>
    return handleChat(options, usage, {
      c,
      body,
      model: body.model as string,
      stream: options.operation === 'chat' && body.stream === true,
      transformBody: options.transformFor?.(body),
    })
  }
}

/** The fields of a usage event known when the request arrives. */
type UsageBase = Pick<UsageEvent, 'requestId' | 'principalId' | 'dialect' | 'operation' | 'requestedModel' | 'stream' | 'startedAt'>

/**
 * A whole usage event, written out field by field. Not `{ ...base, provider, ... }`: on Node 20 every property added
 * after a spread gives the object a hidden class of its own, about 1 µs each, 14 µs for this event.
 */
const usageEvent = (
  base: UsageBase,
  rest: Omit<UsageEvent, keyof UsageBase>,
): UsageEvent => ({
  requestId: base.requestId,
  principalId: base.principalId,
  dialect: base.dialect,
  operation: base.operation,
  requestedModel: base.requestedModel,
  stream: base.stream,
  startedAt: base.startedAt,
  provider: rest.provider,
  model: rest.model,
  status: rest.status,
  usage: rest.usage,
  attempts: rest.attempts,
  latencyMs: rest.latencyMs,
  ttfbMs: rest.ttfbMs,
  error: rest.error,
})

const handleChat = async (options: ChatHandlerOptions, usage: UsageRecorder, parts: ChatRequestParts): Promise<Response> => {
  const { deps } = options
  const { c, body, model, stream } = parts
  const requestId = c.get('requestId')
  const headers: Record<string, string> = {}
  for (const name of forwardedClientHeaders) {
    const value = c.req.header(name)
    if (value !== undefined) headers[name] = value
  }
  let canonical: ChatRequest | undefined
  const toCanonical = (): ChatRequest => (canonical ??= options.convert(body, model))
  const startedAt = c.get('startedAt')
  const usageBase: UsageBase = {
    requestId,
    principalId: c.get('principal').id,
    dialect: options.codec.dialect,
    operation: options.operation,
    requestedModel: model,
    stream,
    startedAt,
  }
  let outcome
  try {
    outcome = await options.executor.execute({
      dialect: options.codec.dialect,
      operation: options.operation,
      model,
      stream,
      body,
      headers,
      toCanonical,
      signal: deps.clientSignal(c.req.raw, c.env),
      requestId,
    })
  } catch (error) {
    usage.record(
      usageEvent(usageBase, {
        provider: null,
        model: null,
        status: (error as { status?: number }).status ?? 500,
        usage: null,
        attempts: Number((error as { headers?: Record<string, string> }).headers?.['x-gatehouse-attempts'] ?? 0),
        latencyMs: deps.clock.now() - startedAt,
        ttfbMs: null,
        error: (error as Error).message,
      }),
    )
    throw error
  }
  return respondChat({
    outcome,
    baseHeaders: takeRequestIdHeaders(c),
    codec: options.codec,
    body,
    canonical: toCanonical,
    transformBody: parts.transformBody,
    streamBody: deps.streamBody,
    onEnd: (end, servedBy) =>
      usage.record(
        usageEvent(usageBase, {
          provider: servedBy.provider,
          model: end.model ?? servedBy.model,
          status: end.status,
          usage: end.usage,
          attempts: servedBy.attempts,
          latencyMs: deps.clock.now() - startedAt,
          ttfbMs: servedBy.firstByteAt - startedAt,
          error: end.error?.message ?? null,
        }),
      ),
  })
}
