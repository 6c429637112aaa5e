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
}

export const chatRequestBody = (options: ChatRequestOptions): string =>
  JSON.stringify({
    model: benchSettings.model,
    messages: benchSettings.messages,
    ...(options.stream
      ? {
          stream: true,
          ...((options.includeUsage ?? true) ? { stream_options: { include_usage: true } } : {}),
        }
      : {}),
    ...(options.paced === undefined
      ? {}
      : {
          metadata: {
            bench_chunks: String(options.paced.chunks),
            bench_interval_ms: String(options.paced.intervalMs),
          },
        }),
  })
