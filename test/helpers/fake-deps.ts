/**
 * `Deps` for unit tests of the core and for route tests through `app.request()`: a real resolved config (through
 * `resolveConfig`, so defaults are the shipped ones), the real provider registry over fake adapters (plain objects
 * implementing `ProviderAdapter`, recording every call), a fake clock, a logger that keeps its lines, a usage sink
 * that keeps its events and an observer that keeps the executor's events. No network, no real adapters.
 */
import type {
  ChatChunk,
  ChatRequest,
  ChatResult,
  Dialect,
} from '../../providers/spec/chat-types.ts'
import type {
  CallContext,
  ForwardRequest,
  ForwardResponse,
  ModelInfo,
  ProviderAdapter,
} from '../../providers/spec/provider-adapter.ts'
import { ProviderError, type ProviderErrorOptions } from '../../providers/spec/provider-error.ts'
import type { GatewayConfig, ProviderConfig } from '../../config/config-schema.ts'
import type { Operation } from '../../providers/spec/operation.ts'
import type { Deps } from '../../src/deps.ts'
import type { ChatCall } from '../../src/core/chat-call.ts'
import type { Executor } from '../../src/core/execute.ts'
import type { ExecutionEvent, ExecutionObserver } from '../../src/core/execution-observer.ts'
import type { Logger } from '../../src/core/logger.ts'
import { masterPrincipal } from '../../src/core/principal.ts'
import { createProviderRegistry, type ProviderFactories } from '../../src/core/provider-registry.ts'
import { resolveConfig } from '../../src/core/resolve-config.ts'
import type { UsageEvent, UsageSink } from '../../src/core/usage.ts'
import type { Authenticator } from '../../src/middleware/authenticate.ts'
import type { Stores } from '../../src/stores/types.ts'
import { createFakeClock, type FakeClock } from './fake-clock.ts'

export type AdapterCall = {
  method: 'forward' | 'chat' | 'streamChat' | 'listModels'
  request: ForwardRequest | ChatRequest | null
  context: CallContext
}

export type FakeAdapter = ProviderAdapter & {
  readonly calls: AdapterCall[]
  readonly dialect: Dialect | 'none'
}

/** What a fake adapter serves natively, by the wire format it pretends to speak. */
const forwardsByDialect: Record<Dialect | 'none', readonly Operation[]> = {
  openai: ['chat-completions', 'embeddings'],
  anthropic: ['messages', 'count-tokens'],
  none: [],
}

type Handlers = {
  forward?: (request: ForwardRequest, context: CallContext) => Promise<ForwardResponse>
  chat?: (request: ChatRequest, context: CallContext) => Promise<ChatResult>
  streamChat?: (request: ChatRequest, context: CallContext) => Promise<ReadableStream<ChatChunk>>
  listModels?: (context: CallContext) => Promise<ModelInfo[]>
}

const unexpected = (what: string) => (): Promise<never> =>
  Promise.reject(new Error(`fake adapter: unexpected ${what}`))

/** A provider adapter whose behaviour is the handlers given; `forward` exists only when a handler is given. */
export const createFakeAdapter = (
  options: { id: string; dialect?: Dialect | 'none' } & Handlers
): FakeAdapter => {
  const calls: AdapterCall[] = []
  const dialect = options.dialect ?? 'openai'
  const adapter: FakeAdapter = {
    id: options.id,
    dialect,
    forwards: options.forward ? forwardsByDialect[dialect] : [],
    requiresMaxTokens: dialect === 'anthropic',
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

export type LogLine = {
  level: 'debug' | 'info' | 'warn' | 'error'
  fields: Record<string, unknown>
  message: string
}

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
  adapters: FakeAdapter[]
  /** Config as a user would write it; `providers[id]` may leave out `type` (derived from the adapter's dialect). */
  config?: Omit<Partial<GatewayConfig>, 'providers'> & {
    providers?: Record<string, Partial<ProviderConfig>>
  }
  clock?: FakeClock
  /** Default: none, as on Workers. */
  stores?: Stores
  /** Default: refuses every key. */
  authenticator?: Authenticator
}

export type FakeDeps = Deps & {
  clock: FakeClock
  logger: Logger & { lines: LogLine[] }
  usage: UsageSink & { events: UsageEvent[] }
  /** The executor's events (also in `observers`), and the one observer for `createExecutor(deps)`. */
  observer: ExecutionObserver & { events: ExecutionEvent[] }
}

export const createRecordingUsageSink = (): UsageSink & { events: UsageEvent[] } => {
  const events: UsageEvent[] = []
  return {
    events,
    record: (event) => void events.push(event),
    flush: async () => {},
    close: async () => {},
  }
}

export const createRecordingObserver = (): ExecutionObserver & { events: ExecutionEvent[] } => {
  const events: ExecutionEvent[] = []
  return { events, observe: (event) => void events.push(event) }
}

export const createFakeDeps = (options: FakeDepsOptions): FakeDeps => {
  const providers: Record<string, ProviderConfig> = {}
  const adapters = new Map<string, FakeAdapter>()
  for (const adapter of options.adapters) {
    adapters.set(adapter.id, adapter)
    providers[adapter.id] = {
      type: adapter.dialect === 'anthropic' ? 'anthropic' : 'openai-compatible',
      apiKey: `key-${adapter.id}`,
      ...options.config?.providers?.[adapter.id],
    }
  }
  const config = resolveConfig({ routes: [], ...options.config, providers } as GatewayConfig)
  const byId = (provider: { id: string }): FakeAdapter => adapters.get(provider.id)!
  const factories: ProviderFactories = { openai: byId, 'openai-compatible': byId, anthropic: byId }
  const built = createProviderRegistry({
    providers: config.providers,
    factories,
    runtimeName: 'tests',
  })
  if (!built.ok) throw new Error(built.errors.join('\n'))
  const observer = createRecordingObserver()
  return {
    config,
    providers: built.registry,
    stores: options.stores ?? {},
    usage: createRecordingUsageSink(),
    observer,
    observers: [observer],
    closables: [],
    clock: options.clock ?? createFakeClock(),
    logger: createRecordingLogger(),
    defer: () => {},
    authenticator: options.authenticator ?? { authenticate: () => Promise.resolve(null) },
    assets: { get: () => Promise.resolve(null) },
    isDraining: () => false,
    clientSignal: (request) => request.signal,
  }
}

/** The client operation a test call makes, from what it says: an Anthropic call is a `messages` call by default. */
const operationOf = (overrides: Partial<ChatCall>): Operation =>
  overrides.operation ?? (overrides.dialect === 'anthropic' ? 'messages' : 'chat-completions')

/** A client call; `toCanonical` gives a one-message request unless overridden. `route` is empty: see `executeCall`. */
export const createChatCall = (overrides: Partial<ChatCall> = {}): ChatCall => {
  const operation = operationOf(overrides)
  return {
    operation,
    dialect: operation === 'messages' || operation === 'count-tokens' ? 'anthropic' : 'openai',
    model: 'test-model',
    route: { name: null, targets: [] },
    principal: masterPrincipal,
    stream: false,
    body: { model: overrides.model ?? 'test-model', messages: [{ role: 'user', content: 'Hi' }] },
    headers: {},
    toCanonical: () => ({
      model: overrides.model ?? 'test-model',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stream: overrides.stream ?? false,
    }),
    assemble: false,
    signal: new AbortController().signal,
    requestId: 'req_test',
    ...overrides,
  }
}

/** Routes a test call (`Executor.route`), then runs it, as a route handler does. */
export const executeCall = async (executor: Executor, overrides: Partial<ChatCall> = {}) => {
  const call = createChatCall(overrides)
  const route = await executor.route({ model: call.model, operation: call.operation })
  return executor.execute({ ...call, route })
}

export const chatResult = (text: string, model = 'upstream-model'): ChatResult => ({
  id: 'chatcmpl-1',
  model,
  created: 1_767_225_600,
  choices: [
    { index: 0, content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: 'stop' } },
  ],
  usage: {
    inputTokens: 3,
    outputTokens: 1,
    cachedInputTokens: null,
    cacheWriteInputTokens: null,
    reasoningTokens: null,
  },
})

/** An upstream HTTP error as an adapter throws it. */
export const httpError = (
  status: number,
  extra: Partial<Omit<ProviderErrorOptions, 'kind' | 'status'>> = {}
): ProviderError =>
  new ProviderError({ kind: 'http', status, message: `upstream said ${status}`, ...extra })

/** A stream that yields `chunks` then ends; `hold: true` leaves it open (for idle tests). */
export const streamOf = <T>(
  chunks: T[],
  options: { hold?: boolean } = {}
): ReadableStream<T> & { cancelled: () => boolean } => {
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
export const forwardResponse = (
  chunks: string[],
  options: { hold?: boolean; status?: number } = {}
) => {
  const encoder = new TextEncoder()
  const body = streamOf(
    chunks.map((chunk) => encoder.encode(chunk)),
    options
  )
  return {
    status: options.status ?? 200,
    headers: new Headers({ 'content-type': 'text/event-stream' }),
    body,
  }
}

/** Reads a stream, or a reader (`ChunkReader`), to its end (rejects with its error). */
export const readAll = async <T>(
  source: ReadableStream<T> | { read(): Promise<ReadableStreamReadResult<T>> }
): Promise<T[]> => {
  const out: T[] = []
  const reader = 'getReader' in source ? source.getReader() : source
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return out
    out.push(value)
  }
}
