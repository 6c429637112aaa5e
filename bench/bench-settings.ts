/**
 * What every benchmark request and process shares: keys, the request bodies, the upstream's stream length. A
 * realistic small chat call, what an app built on the official SDK sends for a short answer.
 */
export const benchSettings = {
  /** The gateway's `GATEHOUSE_MASTER_KEY`; every benchmark request carries it (auth stays on). */
  masterKey: 'bench-master',
  /** The gateway's and the reference's `OPENAI_API_KEY`; the mock answers 401 to any other. */
  upstreamApiKey: 'bench',
  /** Content chunks in each streamed answer. */
  streamChunks: 20,
  model: 'gpt-4o-mini',
  /**
   * The route the `streaming-converted` scenario calls (`start-bench-processes.ts`): the same mock, behind a provider
   * of type `openai-compatible` without the Responses API (`compat.responses: false`), so that the gateway converts.
   */
  convertedModel: 'bench-converted',
  /**
   * The route the cache scenarios call on their own gateways (`start-bench-processes.ts`): `openai`'s model with the
   * prompt cache on (`routes[].cache.enabled`), the memory or the Redis backend.
   */
  cachedModel: 'bench-cached',
  /** `max_tokens` of a Messages call (required by that API) and `max_output_tokens` of a Responses call. */
  maxOutputTokens: 256,
  messages: [
    { role: 'system', content: 'You are a helpful assistant. Answer in one short sentence.' },
    { role: 'user', content: 'What is the capital of France, and why is it famous?' },
  ],
} as const

export type ChatRequestOptions = {
  stream: boolean
  /** A streamed request asks `stream_options.include_usage` (default); the official SDKs do not unless told to. */
  includeUsage?: boolean
  /** Asks the bench's mock to pace the stream (`lean-mock-upstream.ts`), through `metadata`, which proxies forward. */
  paced?: { chunks: number; intervalMs: number }
  /** The model asked for: default `benchSettings.model` (the cache scenarios call `cachedModel`). */
  model?: string
  /**
   * Asks the bench's mock to wait this long before it answers (`metadata.bench_latency_ms`, forwarded by the proxies,
   * and not part of the prompt cache's key).
   */
  upstreamLatencyMs?: number
  /** Appended to the user message: a request of its own, which the prompt cache has never seen (a miss). */
  userSuffix?: string
}

export const chatRequestBody = (options: ChatRequestOptions): string =>
  JSON.stringify({
    model: options.model ?? benchSettings.model,
    messages:
      options.userSuffix === undefined
        ? benchSettings.messages
        : benchSettings.messages.map((message) =>
            message.role === 'user'
              ? { ...message, content: `${message.content}${options.userSuffix}` }
              : message
          ),
    ...(options.stream
      ? {
          stream: true,
          ...((options.includeUsage ?? true) ? { stream_options: { include_usage: true } } : {}),
        }
      : {}),
    ...(options.paced === undefined && options.upstreamLatencyMs === undefined
      ? {}
      : {
          metadata: {
            ...(options.paced === undefined
              ? {}
              : {
                  bench_chunks: String(options.paced.chunks),
                  bench_interval_ms: String(options.paced.intervalMs),
                }),
            ...(options.upstreamLatencyMs === undefined
              ? {}
              : { bench_latency_ms: String(options.upstreamLatencyMs) }),
          },
        }),
  })

const systemText =
  benchSettings.messages.find((message) => message.role === 'system')?.content ?? ''
const userText = benchSettings.messages.find((message) => message.role === 'user')?.content ?? ''

/** What the mock answers to the benchmark's request, as the test suite's mock would: `echo: <user text>`. */
export const mockAnswer = `echo: ${userText}`

/**
 * A streamed Responses API call, as the OpenAI SDK's `responses.create({ stream: true })` sends it: instructions and
 * a user message, with `store: false` (what Codex CLI sends) so that the figure is the conversion's, not the response
 * store's. https://platform.openai.com/docs/api-reference/responses/create
 */
export const responsesRequestBody = (): string =>
  JSON.stringify({
    model: benchSettings.convertedModel,
    instructions: systemText,
    input: [{ role: 'user', content: userText }],
    max_output_tokens: benchSettings.maxOutputTokens,
    stream: true,
    store: false,
  })

/** The same call to the Messages API, as the Anthropic SDK's `messages.stream` sends it. */
export const messagesRequestBody = (): string =>
  JSON.stringify({
    model: benchSettings.convertedModel,
    system: systemText,
    messages: [{ role: 'user', content: userText }],
    max_tokens: benchSettings.maxOutputTokens,
    stream: true,
  })
