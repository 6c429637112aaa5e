/**
 * The benchmark's upstream: an OpenAI chat completions endpoint that costs almost nothing, so that the mock never sets
 * the pace. The test suite's mock (`test/helpers/mock-openai-upstream.ts`) builds every answer from the request and
 * records it; sharing a core with the load generator, it saturated that core before the reference proxy saturated its
 * own on the streaming scenario. This one answers from bytes prepared at start-up, in the same wire format
 * (https://platform.openai.com/docs/api-reference/chat, ../../shared/specs/wire-notes.md §1): a small
 * `chat.completion`, or an SSE stream (role chunk, content chunks, finish chunk, the `choices: []` usage chunk when
 * `stream_options.include_usage` is set, `data: [DONE]`), each event written on its own as a real upstream flushes
 * tokens. It checks the upstream key (401 in OpenAI's shape otherwise) and counts what it answered.
 *
 * A streamed request whose `metadata` holds `bench_chunks` and `bench_interval_ms` (the paced-streams scenario; the
 * proxies forward `metadata` as they forward any member) is answered as a model generates: the role chunk at once,
 * then one content chunk (one token) every `bench_interval_ms`, then the finish chunk, the usage chunk when asked and
 * `[DONE]` together one interval after the last token. Every event carries the time it was written in its
 * `obfuscation` member (`read-chunk-stamps.ts`), which the load generator reads back on arrival.
 *
 * A request whose `metadata` holds `bench_latency_ms` (the `cache-hit-vs-miss` scenario) is answered that many
 * milliseconds after it arrived, as a model that takes that long: the upstream a prompt cache saves time on.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { monotonicMicros } from './monotonic-micros.ts'
import { stampFor } from './read-chunk-stamps.ts'
import type { StampKind } from './read-chunk-stamps.ts'

export type LeanMockUpstream = {
  /** Ends in `/v1`, like `OPENAI_BASE_URL`. */
  baseUrl: string
  /** Chat completions answered with a 200. */
  served(): number
  /** Those whose `metadata.bench_phase` was `phase` (the paced streams of one phase of the run). */
  servedInPhase(phase: string): number
  close(): Promise<void>
}

export type LeanMockOptions = {
  apiKey: string
  /** The assistant's answer, cut into `streamChunks` content chunks when streamed. */
  answer: string
  streamChunks: number
  models: readonly string[]
}

const model = 'gpt-4o-mini-2024-07-18'
const envelope = {
  id: 'chatcmpl-bench0001',
  created: 1_735_689_600,
  model,
  service_tier: 'default',
  system_fingerprint: 'fp_bench01',
}

/** The usage the mock reports for `answer` (the same in the usage chunk and in a plain completion). */
export const usageFor = (answer: string) => {
  const completion = Math.max(1, Math.ceil(answer.length / 4))
  return {
    prompt_tokens: 31,
    completion_tokens: completion,
    total_tokens: 31 + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  }
}

/** `text` cut into the content of `count` chunks (fewer when it has fewer characters): what a stream carries. */
export const pieces = (text: string, count: number): string[] => {
  const characters = Array.from(text)
  const total = Math.max(1, Math.min(count, characters.length))
  return Array.from({ length: total }, (_, index) =>
    characters
      .slice(
        Math.floor((index * characters.length) / total),
        Math.floor(((index + 1) * characters.length) / total)
      )
      .join('')
  )
}

/** The events of a full-rate stream, in order, `data: [DONE]` last. */
export const streamEvents = (options: {
  answer: string
  streamChunks: number
  includeUsage: boolean
}): Buffer[] => {
  const { includeUsage } = options
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    Buffer.from(
      `data: ${JSON.stringify({ ...envelope, object: 'chat.completion.chunk', choices, ...(includeUsage ? { usage: null } : {}), ...extra })}\n\n`
    )
  const delta = (value: Record<string, unknown>, finishReason: string | null = null) => [
    { index: 0, delta: value, logprobs: null, finish_reason: finishReason },
  ]
  return [
    chunk(delta({ role: 'assistant', content: '', refusal: null })),
    ...pieces(options.answer, options.streamChunks).map((piece) =>
      chunk(delta({ content: piece }))
    ),
    chunk(delta({}, 'stop')),
    ...(includeUsage ? [chunk([], { usage: usageFor(options.answer) })] : []),
    Buffer.from('data: [DONE]\n\n'),
  ]
}

/** The tokens of a paced answer, in turn: ASCII, as most English output is. */
const pacedTokens =
  ' Paris is the capital of France, famous for the Eiffel Tower, the Louvre and its long history of art.'.split(
    /(?= )/
  )

type StampedEvent = (micros: number) => string

/** One event of a paced stream, with the stamp spliced into the `obfuscation` member OpenAI puts last. */
const stampedEvent = (options: {
  kind: StampKind
  choices: unknown[]
  includeUsage: boolean
  usage?: unknown
}): StampedEvent => {
  const { kind, choices, includeUsage } = options
  const body = JSON.stringify({
    ...envelope,
    object: 'chat.completion.chunk',
    choices,
    ...(includeUsage ? { usage: options.usage ?? null } : {}),
    obfuscation: '\u0000',
  })
  const [head, tail] = body.split('\\u0000')
  return (micros) => `data: ${head}${stampFor(kind, micros)}${tail}\n\n`
}

const pacedEventsFor = (includeUsage: boolean) => {
  const delta = (value: Record<string, unknown>, finishReason: string | null = null) => [
    { index: 0, delta: value, logprobs: null, finish_reason: finishReason },
  ]
  return {
    role: stampedEvent({
      kind: 'role',
      choices: delta({ role: 'assistant', content: '', refusal: null }),
      includeUsage,
    }),
    tokens: pacedTokens.map((token) =>
      stampedEvent({ kind: 'content', choices: delta({ content: token }), includeUsage })
    ),
    finish: stampedEvent({ kind: 'finish', choices: delta({}, 'stop'), includeUsage }),
    usage: (completionTokens: number): StampedEvent =>
      stampedEvent({
        kind: 'usage',
        choices: [],
        includeUsage: true,
        usage: {
          ...usageFor(''),
          completion_tokens: completionTokens,
          total_tokens: 31 + completionTokens,
        },
      }),
  }
}

const pacedEvents = { plain: pacedEventsFor(false), withUsage: pacedEventsFor(true) }

/**
 * `metadata.bench_phase`: the phase of the run a paced stream belongs to, so that each phase's count is its own, whatever
 * reaches the mock between two reads of the total.
 */
const phaseOf = (body: string): string | undefined =>
  body.includes('"bench_phase"') ? /"bench_phase"\s*:\s*"([^"\\]+)"/.exec(body)?.[1] : undefined

/** `bench_chunks` and `bench_interval_ms` from the request's `metadata`, when both are positive whole numbers. */
const pacingOf = (body: string): { chunks: number; intervalMs: number } | undefined => {
  if (!body.includes('"bench_interval_ms"')) return undefined
  try {
    const metadata = (
      JSON.parse(body) as { metadata?: { bench_chunks?: unknown; bench_interval_ms?: unknown } }
    ).metadata
    const chunks = Number(metadata?.bench_chunks)
    const intervalMs = Number(metadata?.bench_interval_ms)
    return Number.isInteger(chunks) && chunks > 0 && Number.isInteger(intervalMs) && intervalMs > 0
      ? { chunks, intervalMs }
      : undefined
  } catch {
    return undefined
  }
}

/** Writes a paced stream: see the header. A client that goes away stops it. */
const streamPaced = (
  response: ServerResponse,
  options: { chunks: number; intervalMs: number; includeUsage: boolean }
): void => {
  const events = options.includeUsage ? pacedEvents.withUsage : pacedEvents.plain
  response.write(events.role(monotonicMicros()))
  let sent = 0
  const timer = setInterval(() => {
    if (sent < options.chunks) {
      response.write(events.tokens[sent % events.tokens.length](monotonicMicros()))
      sent += 1
      return
    }
    clearInterval(timer)
    const now = monotonicMicros()
    response.end(
      `${events.finish(now)}${options.includeUsage ? events.usage(options.chunks)(now) : ''}data: [DONE]\n\n`
    )
  }, options.intervalMs)
  response.once('close', () => clearInterval(timer))
}

/** `bench_latency_ms` from the request's `metadata`, when a positive whole number. */
const latencyOf = (body: string): number | undefined => {
  if (!body.includes('"bench_latency_ms"')) return undefined
  try {
    const latency = Number(
      (JSON.parse(body) as { metadata?: { bench_latency_ms?: unknown } }).metadata?.bench_latency_ms
    )
    return Number.isInteger(latency) && latency > 0 ? latency : undefined
  } catch {
    return undefined
  }
}

const errorBody = (message: string, code: string | null) =>
  JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } })

export const startLeanMockUpstream = async (
  options: LeanMockOptions
): Promise<LeanMockUpstream> => {
  const completion = Buffer.from(
    JSON.stringify({
      ...envelope,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: options.answer, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: usageFor(options.answer),
    })
  )
  const streams = {
    plain: streamEvents({ ...options, includeUsage: false }),
    withUsage: streamEvents({ ...options, includeUsage: true }),
  }
  const models = Buffer.from(
    JSON.stringify({
      object: 'list',
      data: options.models.map((id) => ({
        id,
        object: 'model',
        created: 1_715_367_049,
        owned_by: 'system',
      })),
    })
  )
  const expectedAuthorization = `Bearer ${options.apiKey}`
  let served = 0
  const servedByPhase = new Map<string, number>()
  let counter = 0

  const sendJson = (
    response: ServerResponse,
    status: number,
    body: Buffer | string,
    requestId: string
  ): void => {
    response.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      'openai-processing-ms': '1',
    })
    response.end(body)
  }

  const answer = (incoming: IncomingMessage, response: ServerResponse, body: string): void => {
    counter += 1
    const requestId = `req_bench${counter}`
    if (incoming.headers.authorization !== expectedAuthorization) {
      return sendJson(
        response,
        401,
        errorBody('Incorrect API key provided.', 'invalid_api_key'),
        requestId
      )
    }
    if (incoming.method === 'GET' && incoming.url === '/v1/models')
      return sendJson(response, 200, models, requestId)
    if (incoming.method !== 'POST' || incoming.url !== '/v1/chat/completions') {
      return sendJson(
        response,
        404,
        errorBody(`Invalid URL (${incoming.method} ${incoming.url})`, null),
        requestId
      )
    }
    served += 1
    const phase = phaseOf(body)
    if (phase !== undefined) servedByPhase.set(phase, (servedByPhase.get(phase) ?? 0) + 1)
    if (!/"stream"\s*:\s*true/.test(body)) return sendJson(response, 200, completion, requestId)
    const includeUsage = /"include_usage"\s*:\s*true/.test(body)
    const events = includeUsage ? streams.withUsage : streams.plain
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': requestId,
      'openai-processing-ms': '1',
    })
    const pacing = pacingOf(body)
    if (pacing !== undefined) return streamPaced(response, { ...pacing, includeUsage })
    for (let index = 0; index < events.length - 1; index += 1) response.write(events[index])
    response.end(events[events.length - 1])
  }

  const server = createServer((incoming, response) => {
    let body = ''
    incoming.setEncoding('utf8')
    incoming.on('data', (chunk: string) => (body += chunk))
    incoming.on('end', () => {
      const latencyMs = latencyOf(body)
      if (latencyMs === undefined) return answer(incoming, response, body)
      const timer = setTimeout(() => answer(incoming, response, body), latencyMs)
      response.once('close', () => clearTimeout(timer))
    })
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    served: () => served,
    servedInPhase: (phase) => servedByPhase.get(phase) ?? 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}
