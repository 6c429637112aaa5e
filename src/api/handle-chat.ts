/**
 * The shared body of the chat-shaped routes (OpenAI chat completions, Anthropic messages and count_tokens): build the
 * executor call, run it, respond in the client's dialect, record usage when the body ends.
 */
import type { Context } from 'hono'
import type { ChatRequest } from '../../providers/spec/chat-types.ts'
import type { Deps } from '../deps.ts'
import type { ChatCall, Executor } from '../core/execute.ts'
import { recordUsage } from '../core/usage.ts'
import type { GatewayEnv } from '../middleware/gateway-env.ts'
import type { DialectCodec } from './dialect-codec.ts'
import { respondChat } from './respond-chat.ts'

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

type HandleChatOptions = Omit<ChatHandlerOptions, 'transformFor'> & {
  c: Context<GatewayEnv>
  body: Record<string, unknown>
  model: string
  stream: boolean
  transformBody?: (bytes: Uint8Array) => Uint8Array
}

/**
 * The handler of a chat-shaped route, run after zod validated the body: it reads the client's own JSON (never zod's
 * output, so unknown fields are forwarded), whose `model` and `stream` the route schema has checked.
 */
export const createChatHandler =
  (options: ChatHandlerOptions) =>
  async (c: Context<GatewayEnv>): Promise<Response> => {
    const body = (await c.req.json()) as Record<string, unknown>
    return handleChat({
      ...options,
      c,
      body,
      model: body.model as string,
      stream: options.operation === 'chat' && body.stream === true,
      transformBody: options.transformFor?.(body),
    })
  }

const handleChat = async (options: HandleChatOptions): Promise<Response> => {
  const { c, deps, body, model, stream } = options
  const requestId = c.get('requestId')
  const headers: Record<string, string> = {}
  for (const name of forwardedClientHeaders) {
    const value = c.req.header(name)
    if (value !== undefined) headers[name] = value
  }
  let canonical: ChatRequest | undefined
  const toCanonical = (): ChatRequest => (canonical ??= options.convert(body, model))
  const startedAt = c.get('startedAt')
  const usageBase = {
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
      signal: c.req.raw.signal,
      requestId,
    })
  } catch (error) {
    recordUsage(deps, {
      ...usageBase,
      provider: null,
      model: null,
      status: (error as { status?: number }).status ?? 500,
      usage: null,
      attempts: Number((error as { headers?: Record<string, string> }).headers?.['x-gatehouse-attempts'] ?? 0),
      latencyMs: deps.clock.now() - startedAt,
      ttfbMs: null,
      error: (error as Error).message,
    })
    throw error
  }
  return respondChat({
    outcome,
    codec: options.codec,
    body,
    canonical: toCanonical,
    transformBody: options.transformBody,
    onEnd: (end, servedBy) =>
      recordUsage(deps, {
        ...usageBase,
        provider: servedBy.provider,
        model: end.model ?? servedBy.model,
        status: end.status,
        usage: end.usage,
        attempts: servedBy.attempts,
        latencyMs: deps.clock.now() - startedAt,
        ttfbMs: servedBy.firstByteAt - startedAt,
        error: end.error?.message ?? null,
      }),
  })
}
