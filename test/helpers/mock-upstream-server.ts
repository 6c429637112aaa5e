/**
 * The HTTP server shared by the mock OpenAI and Anthropic upstreams: request recording, the fault queue, abort
 * accounting, and the writers that deliver a JSON or SSE answer (or break it on purpose). Each dialect module supplies
 * only what its wire format needs (`MockDialect`). Kept lean: the benchmark drives it at thousands of requests per
 * second, so no per-request logging and no sync heavy work.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** One request as the mock saw it. `aborted` turns true when the client closed before the response finished. */
export type RecordedRequest = {
  method: string
  /** Raw request target (`/v1/models/openai%2Fgpt-4o`): percent-encoding kept. */
  path: string
  headers: Record<string, string>
  /** Parsed JSON body; the raw text when it is not JSON; `undefined` when empty. */
  body: unknown
  /** The body's text as it arrived (`''` when empty). */
  text: string
  startedAt: number
  aborted: boolean
  /** Settles when the exchange ends: `completed`, `aborted` by the client, or `dropped` by a fault. */
  settled: Promise<'completed' | 'aborted' | 'dropped'>
}

export type FaultKind =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { delayFirstByteMs: number }
  | { stallAfterChunks: number }
  | { dropAfterChunks: number }
  /** A stream that writes this many events and then ends cleanly, short of its end (no `[DONE]`, no `message_stop`). */
  | { endAfterChunks: number }
  | { destroyConnection: true }
  | { garbage: true }
  | InBandErrorFault

/**
 * Streams `afterChunks` events (default 2), then the dialect's in-band error, then ends. `error.code` and `failWith`
 * apply to the Responses API only: its stream ends with `error` then `response.failed` (`both`, the default, as the
 * live API sends them) or with one of the two.
 */
export type InBandErrorFault = {
  inBandError: true
  afterChunks?: number
  error?: { type?: string; message?: string; code?: string }
  failWith?: 'error' | 'response.failed' | 'both'
}

/**
 * A fault applies to the next request it matches: by default any POST (so the gateway's background `GET /v1/models`
 * refreshes never eat a fault meant for a chat call); with `path`, any request whose path starts with it.
 */
export type Fault = FaultKind & { path?: string }

export type MockUpstream = {
  /** OpenAI: ends in `/v1` (what the SDK expects); Anthropic: the origin, no `/v1`. */
  baseUrl: string
  origin: string
  requests: RecordedRequest[]
  /** Queues faults, consumed one per matching request, in order; afterwards requests are answered normally. */
  enqueue(...faults: Fault[]): void
  close(): Promise<void>
  /** Forgets recorded requests, queued faults and what the dialect stores (the Responses API's responses). */
  reset(): void
}

export type MockUpstreamOptions = {
  /** The key the mock expects; any other gets a 401 in the provider's shape. */
  apiKey?: string
  /** Pieces a streamed text answer is cut into (at most one per character). Default 4. */
  streamChunks?: number
  /** Pause between streamed events. Default 0 (all events written at once). */
  chunkDelayMs?: number
  /** Keep `requests` (turn off for load tests, or memory grows without bound). Default true. */
  record?: boolean
  /** Reported as cache reads / cache writes in usage (Anthropic `cache_*_input_tokens`, OpenAI `cached_tokens`). */
  cacheReadTokens?: number
  cacheWriteTokens?: number
  /** How many of `cacheWriteTokens` went to Anthropic's 1-hour cache (`cache_creation`); default 0. */
  cacheWrite1hTokens?: number
  /** Model ids served by `GET /v1/models`. */
  models?: string[]
}

export type JsonReply = {
  kind: 'json'
  status: number
  body: unknown
  headers?: Record<string, string>
}
export type SseReply = {
  kind: 'sse'
  /** Complete SSE events, each ending in a blank line. */
  events: string[]
  /** What an `inBandError` fault ends the stream with, after the first `sent` events (one or more SSE events). */
  inBandError: (fault: InBandErrorFault, sent: number) => string
}
export type MockReply = JsonReply | SseReply

export type MockDialect = {
  basePath: string
  answer(request: RecordedRequest, requestId: string): MockReply
  /** The body of a `{ status }` fault that brings none, in the provider's error shape. */
  errorBody(status: number, requestId: string): unknown
  /** Headers on every answer (the provider's request id header). */
  headers(requestId: string): Record<string, string>
  /** Forgets what the dialect keeps between requests (stored responses), on `reset()`. */
  reset?(): void
}

const sseHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
}

/** Starts a mock upstream on 127.0.0.1 with an OS-assigned port. */
export const startMockUpstreamServer = async (
  dialect: MockDialect,
  options: Pick<MockUpstreamOptions, 'record' | 'chunkDelayMs'>
): Promise<MockUpstream> => {
  const requests: RecordedRequest[] = []
  const faults: Fault[] = []
  const record = options.record ?? true
  const chunkDelayMs = options.chunkDelayMs ?? 0
  let counter = 0

  const takeFault = (request: RecordedRequest): Fault | undefined => {
    const index = faults.findIndex((fault) =>
      fault.path === undefined ? request.method === 'POST' : request.path.startsWith(fault.path)
    )
    return index === -1 ? undefined : faults.splice(index, 1)[0]
  }

  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = []
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
    incoming.on('end', () => {
      const request = recordRequest(incoming, chunks, response)
      if (record) requests.push(request)
      counter += 1
      const requestId = `req_mock${counter.toString(16).padStart(8, '0')}`
      respond({ request, response, fault: takeFault(request), requestId, dialect, chunkDelayMs })
    })
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`

  return {
    baseUrl: `${origin}${dialect.basePath}`,
    origin,
    requests,
    enqueue: (...added) => {
      faults.push(...added)
    },
    reset: () => {
      requests.length = 0
      faults.length = 0
      dialect.reset?.()
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}

const dropped = new WeakSet<ServerResponse>()

const recordRequest = (
  incoming: IncomingMessage,
  chunks: Buffer[],
  response: ServerResponse
): RecordedRequest => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
  const text = chunks.length === 0 ? '' : Buffer.concat(chunks).toString('utf8')
  let body: unknown = undefined
  if (text !== '') {
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
  }
  let settle: (outcome: 'completed' | 'aborted' | 'dropped') => void = () => {}
  const request: RecordedRequest = {
    method: incoming.method ?? 'GET',
    path: incoming.url ?? '/',
    headers,
    body,
    text,
    startedAt: Date.now(),
    aborted: false,
    settled: new Promise((resolve) => (settle = resolve)),
  }
  response.on('close', () => {
    if (dropped.has(response)) return settle('dropped')
    if (response.writableFinished) return settle('completed')
    request.aborted = true
    settle('aborted')
  })
  return request
}

type Exchange = {
  request: RecordedRequest
  response: ServerResponse
  fault: Fault | undefined
  requestId: string
  dialect: MockDialect
  chunkDelayMs: number
}

const respond = (exchange: Exchange): void => {
  const { fault, response } = exchange
  if (fault !== undefined && 'destroyConnection' in fault) {
    dropped.add(response)
    const socket = response.socket as Socket | null
    socket?.resetAndDestroy()
    return
  }
  if (fault !== undefined && 'delayFirstByteMs' in fault) {
    const timer = setTimeout(
      () => deliver({ ...exchange, fault: undefined }),
      fault.delayFirstByteMs
    )
    response.on('close', () => clearTimeout(timer))
    return
  }
  deliver(exchange)
}

const deliver = ({
  request,
  response,
  fault,
  requestId,
  dialect,
  chunkDelayMs,
}: Exchange): void => {
  if (response.destroyed) return
  const headers = dialect.headers(requestId)
  if (fault !== undefined && 'status' in fault) {
    const body = fault.body ?? dialect.errorBody(fault.status, requestId)
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    const type = typeof body === 'string' ? 'text/plain' : 'application/json'
    response.writeHead(fault.status, { ...headers, 'content-type': type, ...fault.headers })
    response.end(text)
    return
  }
  const reply = dialect.answer(request, requestId)
  if (fault !== undefined && 'garbage' in fault) {
    const sse = reply.kind === 'sse'
    response.writeHead(200, {
      ...headers,
      ...(sse ? sseHeaders : { 'content-type': 'application/json' }),
    })
    response.end(
      sse ? 'data: <html>this is not JSON</html>\n\n' : '<html><body>this is not JSON</body></html>'
    )
    return
  }
  if (reply.kind === 'json') return sendJson({ response, reply, headers, fault })
  void sendSse({ response, reply, headers, fault, chunkDelayMs })
}

const breakAfter = (
  fault: Fault | undefined
): { at: number; how: 'stall' | 'drop' | 'end' } | undefined => {
  if (fault === undefined) return undefined
  if ('endAfterChunks' in fault) return { at: fault.endAfterChunks, how: 'end' }
  if ('stallAfterChunks' in fault) return { at: fault.stallAfterChunks, how: 'stall' }
  if ('dropAfterChunks' in fault) return { at: fault.dropAfterChunks, how: 'drop' }
  return undefined
}

const drop = (response: ServerResponse): void => {
  dropped.add(response)
  response.socket?.destroy()
}

/** A JSON answer; a stall sends the headers and no body, a drop cuts the body in half. */
const sendJson = (options: {
  response: ServerResponse
  reply: JsonReply
  headers: Record<string, string>
  fault: Fault | undefined
}): void => {
  const { response, reply, fault } = options
  const text = JSON.stringify(reply.body)
  const length = Buffer.byteLength(text)
  response.writeHead(reply.status, {
    ...options.headers,
    'content-type': 'application/json',
    'content-length': String(length),
    ...reply.headers,
  })
  const broken = breakAfter(fault)
  if (broken?.how === 'stall') {
    response.flushHeaders()
    return
  }
  if (broken?.how === 'drop') {
    response.write(Buffer.from(text).subarray(0, Math.floor(length / 2)), () => drop(response))
    return
  }
  response.end(text)
}

/** Writes events one by one; a stall stops writing (the socket stays open), a drop destroys it once flushed. */
const sendSse = async (options: {
  response: ServerResponse
  reply: SseReply
  headers: Record<string, string>
  fault: Fault | undefined
  chunkDelayMs: number
}): Promise<void> => {
  const { response, reply, fault, chunkDelayMs } = options
  let events = reply.events
  if (fault !== undefined && 'inBandError' in fault) {
    const kept = events.slice(0, fault.afterChunks ?? 2)
    events = [...kept, reply.inBandError(fault, kept.length)]
  }
  const broken = breakAfter(fault)
  const limit = broken === undefined ? events.length : Math.min(broken.at, events.length)
  response.writeHead(200, { ...options.headers, ...sseHeaders })
  response.flushHeaders()
  for (let index = 0; index < limit; index += 1) {
    if (response.destroyed) return
    if (chunkDelayMs > 0 && index > 0)
      await new Promise((resolve) => setTimeout(resolve, chunkDelayMs))
    if (response.destroyed) return
    const last = index === limit - 1
    if (last && broken?.how === 'drop') {
      response.write(events[index], () => drop(response))
      return
    }
    response.write(events[index])
  }
  if (broken?.how === 'drop' && limit === 0) return drop(response)
  if (broken === undefined || broken.how === 'end') response.end()
}

/** A rough token count (about 4 characters per token, at least 1), deterministic so tests can rely on it. */
export const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4))

/** Cuts `text` into `count` pieces of near-equal length (fewer when the text is shorter), never inside a character. */
export const splitIntoPieces = (text: string, count: number): string[] => {
  const characters = Array.from(text)
  const pieces = Math.max(1, Math.min(count, characters.length))
  const result: string[] = []
  for (let index = 0; index < pieces; index += 1) {
    const start = Math.floor((index * characters.length) / pieces)
    const end = Math.floor(((index + 1) * characters.length) / pieces)
    result.push(characters.slice(start, end).join(''))
  }
  return result
}

export type MockTool = { name: string; schema: unknown }
export type MockToolCall = { name: string; input: Record<string, unknown> }
export type MockToolChoice = 'auto' | 'none' | 'required' | { name: string }
export type MockIntent = { kind: 'text'; text: string } | { kind: 'tools'; calls: MockToolCall[] }

/**
 * What the mock model answers, the same way for both dialects: after tool results, a text that quotes them; tool
 * calls when tools are offered and the user asks (`use tool`, or a forcing `tool_choice`), two in parallel when the
 * user asks for `parallel`/`two tools`/`both` and parallel calls are allowed; otherwise `echo: <last user text>`.
 */
export const decideIntent = (options: {
  lastUserText: string
  toolResults: string[]
  tools: MockTool[]
  toolChoice: MockToolChoice
  parallelAllowed: boolean
}): MockIntent => {
  const { lastUserText, toolResults, tools, toolChoice } = options
  if (toolResults.length > 0)
    return { kind: 'text', text: `tool result received: ${toolResults.join('; ')}` }
  const forced = toolChoice === 'required' || typeof toolChoice === 'object'
  if (
    tools.length === 0 ||
    toolChoice === 'none' ||
    (!forced && !/\buse (a |the )?tools?\b/i.test(lastUserText))
  ) {
    return { kind: 'text', text: `echo: ${lastUserText}` }
  }
  if (typeof toolChoice === 'object') {
    const tool = tools.find((candidate) => candidate.name === toolChoice.name) ?? tools[0]
    return { kind: 'tools', calls: [{ name: tool.name, input: sampleObject(tool.schema) }] }
  }
  const named = tools.find((tool) => lastUserText.includes(tool.name)) ?? tools[0]
  const calls = [{ name: named.name, input: sampleObject(named.schema) }]
  if (options.parallelAllowed && /\b(parallel|two tools|both)\b/i.test(lastUserText)) {
    const second = tools.find((tool) => tool !== named) ?? named
    calls.push({ name: second.name, input: sampleObject(second.schema) })
  }
  return { kind: 'tools', calls }
}

const sampleObject = (schema: unknown): Record<string, unknown> => {
  const value = sampleValue(schema, 'value')
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
}

/** A valid value for a JSON schema: enum/const first, then one sample per type, every object property filled. */
export const sampleValue = (schema: unknown, key: string): unknown => {
  if (schema === null || typeof schema !== 'object') return `sample ${key}`
  const node = schema as Record<string, unknown>
  if ('const' in node) return node.const
  if (Array.isArray(node.enum) && node.enum.length > 0) return node.enum[0]
  const variants = (node.anyOf ?? node.oneOf) as unknown[] | undefined
  if (Array.isArray(variants) && variants.length > 0) return sampleValue(variants[0], key)
  const type = Array.isArray(node.type) ? node.type.find((entry) => entry !== 'null') : node.type
  if (type === 'object' || (type === undefined && typeof node.properties === 'object')) {
    const properties = (node.properties ?? {}) as Record<string, unknown>
    return Object.fromEntries(
      Object.entries(properties).map(([name, sub]) => [name, sampleValue(sub, name)])
    )
  }
  if (type === 'array') return [sampleValue(node.items, key)]
  if (type === 'integer' || type === 'number')
    return typeof node.minimum === 'number' ? node.minimum : 1
  if (type === 'boolean') return true
  if (type === 'null') return null
  return `sample ${key}`
}

/** Cuts the text to what `maxTokens` allows (4 characters a token); `truncated` says whether it had to. */
export const limitText = (
  text: string,
  maxTokens: number | undefined
): { text: string; truncated: boolean } => {
  if (maxTokens === undefined || estimateTokens(text) <= maxTokens)
    return { text, truncated: false }
  return {
    text: Array.from(text)
      .slice(0, maxTokens * 4)
      .join(''),
    truncated: true,
  }
}
