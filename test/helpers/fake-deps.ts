/**
 * `Deps` for unit tests of the core: a real resolved config (through `resolveConfig`, so defaults are the shipped
 * ones), fake adapters (plain objects implementing `ProviderAdapter`, recording every call), a fake clock and a
 * logger that keeps its lines. No network, no real adapters.
 */
import type { ChatChunk, ChatRequest, ChatResult, Dialect } from '../../providers/spec/chat-types.ts'
import type {
  CallContext,
  ForwardRequest,
  ForwardResponse,
  ModelInfo,
  ProviderAdapter,
  UpstreamTransport,
} from '../../providers/spec/provider-adapter.ts'
import { ProviderError, type ProviderErrorOptions } from '../../providers/spec/provider-error.ts'
import type { GatewayConfig, ProviderConfig } from '../../config/config-schema.ts'
import type { Deps } from '../../src/deps.ts'
import type { ChatCall } from '../../src/core/execute.ts'
import type { Logger } from '../../src/core/logger.ts'
import type { ProviderEntry, ProviderRegistry } from '../../src/core/provider-registry.ts'
import { resolveConfig } from '../../src/core/resolve-config.ts'
import { createFakeClock, type FakeClock } from './fake-clock.ts'

export type AdapterCall = {
  method: 'forward' | 'chat' | 'streamChat' | 'listModels'
  request: ForwardRequest | ChatRequest | null
  context: CallContext
}

export type FakeAdapter = ProviderAdapter & { readonly calls: AdapterCall[] }

type Handlers = {
  forward?: (request: ForwardRequest, context: CallContext) => Promise<ForwardResponse>
  chat?: (request: ChatRequest, context: CallContext) => Promise<ChatResult>
  streamChat?: (request: ChatRequest, context: CallContext) => Promise<ReadableStream<ChatChunk>>
  listModels?: (context: CallContext) => Promise<ModelInfo[]>
}

const unexpected = (what: string) => (): Promise<never> => Promise.reject(new Error(`fake adapter: unexpected ${what}`))

/** A provider adapter whose behaviour is the handlers given; `forward` exists only when a handler is given. */
export const createFakeAdapter = (
  options: { id: string; dialect?: Dialect | 'none' } & Handlers,
): FakeAdapter => {
  const calls: AdapterCall[] = []
  const adapter: FakeAdapter = {
    id: options.id,
    dialect: options.dialect ?? 'openai',
    runtimes: ['node', 'workers'],
    defaultBaseUrl: `https://${options.id}.example`,
    calls,
    chat: (request, context) => {
      calls.push({ method: 'chat', request, context })
      return (options.chat ?? unexpected('chat'))(request, context)
    },
    streamChat: (request, context) => {
      calls.push({ method: 'streamChat', request, context })
      return (options.streamChat ?? unexpected('streamChat'))(request, context)
    },
  }
  const { forward, listModels } = options
  if (forward) {
    adapter.forward = (request, context) => {
      calls.push({ method: 'forward', request, context })
      return forward(request, context)
    }
    adapter.createForwardTap = () => ({ write: () => {}, finish: () => ({ usage: null }) })
  }
  if (listModels) {
    adapter.listModels = (context) => {
      calls.push({ method: 'listModels', request: null, context })
      return listModels(context)
    }
  }
  return adapter
}

export type LogLine = { level: 'debug' | 'info' | 'warn' | 'error'; fields: Record<string, unknown>; message: string }

export const createRecordingLogger = (): Logger & { lines: LogLine[] } => {
  const lines: LogLine[] = []
  const at =
    (level: LogLine['level']) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push({ level, fields, message })
    }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

export type FakeDepsOptions = {
  adapters: ProviderAdapter[]
  /** Config as a user would write it; `providers[id]` may leave out `type` (derived from the adapter's dialect). */
  config?: Omit<Partial<GatewayConfig>, 'providers'> & { providers?: Record<string, Partial<ProviderConfig>> }
  clock?: FakeClock
}

export type FakeDeps = Deps & { clock: FakeClock; logger: Logger & { lines: LogLine[] } }

export const createFakeDeps = (options: FakeDepsOptions): FakeDeps => {
  const providers: Record<string, ProviderConfig> = {}
  for (const adapter of options.adapters) {
    providers[adapter.id] = {
      type: adapter.dialect === 'anthropic' ? 'anthropic' : 'openai-compatible',
      apiKey: `key-${adapter.id}`,
      ...options.config?.providers?.[adapter.id],
    }
  }
  const config = resolveConfig({ routes: [], ...options.config, providers } as GatewayConfig)
  const entries = new Map<string, ProviderEntry>()
  for (const adapter of options.adapters) {
    const provider = config.providers[adapter.id]
    entries.set(adapter.id, {
      config: provider,
      adapter,
      credentials: { apiKey: provider.apiKey, baseUrl: provider.baseUrl ?? adapter.defaultBaseUrl, headers: provider.headers },
    })
  }
  const list = [...entries.values()]
  const registry: ProviderRegistry = { get: (id) => entries.get(id), list: () => list }
  const transport: UpstreamTransport = { request: () => Promise.reject(new Error('fake deps: no network in unit tests')) }
  return {
    config,
    providers: registry,
    transport,
    clock: options.clock ?? createFakeClock(),
    logger: createRecordingLogger(),
    defer: () => {},
    authenticator: { authenticate: () => Promise.resolve(null) },
    assets: { get: () => Promise.resolve(null) },
    runtime: 'node',
    isDraining: () => false,
    clientSignal: (request) => request.signal,
  }
}

/** A client call; `toCanonical` gives a one-message request unless overridden. */
export const createChatCall = (overrides: Partial<ChatCall> = {}): ChatCall => ({
  dialect: 'openai',
  operation: 'chat',
  model: 'test-model',
  stream: false,
  body: { model: overrides.model ?? 'test-model', messages: [{ role: 'user', content: 'Hi' }] },
  headers: {},
  toCanonical: () => ({
    model: overrides.model ?? 'test-model',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    stream: overrides.stream ?? false,
  }),
  signal: new AbortController().signal,
  requestId: 'req_test',
  ...overrides,
})

export const chatResult = (text: string, model = 'upstream-model'): ChatResult => ({
  id: 'chatcmpl-1',
  model,
  created: 1_767_225_600,
  choices: [
    { index: 0, content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: 'stop' } },
  ],
  usage: { inputTokens: 3, outputTokens: 1, cachedInputTokens: null, cacheWriteInputTokens: null, reasoningTokens: null },
})

/** An upstream HTTP error as an adapter throws it. */
export const httpError = (
  status: number,
  extra: Partial<Omit<ProviderErrorOptions, 'kind' | 'status'>> = {},
): ProviderError => new ProviderError({ kind: 'http', status, message: `upstream said ${status}`, ...extra })

/** A stream that yields `chunks` then ends; `hold: true` leaves it open (for idle tests). */
export const streamOf = <T>(chunks: T[], options: { hold?: boolean } = {}): ReadableStream<T> & { cancelled: () => boolean } => {
  let cancelled = false
  let index = 0
  const stream = new ReadableStream<T>({
    pull(controller) {
      if (index < chunks.length) controller.enqueue(chunks[index++])
      else if (!options.hold) controller.close()
      else return new Promise<void>(() => {})
    },
    cancel() {
      cancelled = true
    },
  }) as ReadableStream<T> & { cancelled: () => boolean }
  stream.cancelled = () => cancelled
  return stream
}

/** A same-dialect upstream response carrying `text` chunks. */
export const forwardResponse = (chunks: string[], options: { hold?: boolean; status?: number } = {}) => {
  const encoder = new TextEncoder()
  const body = streamOf(
    chunks.map((chunk) => encoder.encode(chunk)),
    options,
  )
  return { status: options.status ?? 200, headers: new Headers({ 'content-type': 'text/event-stream' }), body }
}

/** Reads a stream, or a reader (`ChunkReader`), to its end (rejects with its error). */
export const readAll = async <T>(source: ReadableStream<T> | { read(): Promise<ReadableStreamReadResult<T>> }): Promise<T[]> => {
  const out: T[] = []
  const reader = 'getReader' in source ? source.getReader() : source
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return out
    out.push(value)
  }
}
