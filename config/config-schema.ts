/**
 * The gateway's configuration, validated at start-up. One schema serves the YAML file and the environment defaults.
 * Every option is documented in config/gatehouse.example.yaml.
 */
import { z } from 'zod'
import { priceOverridesSchema } from './price-table.ts'
import { providerTypes } from './provider-types.ts'

const durationMs = z.number().int().positive()

/** How long stored usage is kept: whole days (at most a century), or `forever`. */
const retentionDaysError = { error: 'a whole number of days from 1 to 36500, or `forever`' }
const retentionDays = z.union(
  [
    z.number().int(retentionDaysError).min(1, retentionDaysError).max(36_500, retentionDaysError),
    z.literal('forever'),
  ],
  retentionDaysError
)

export const timeoutsSchema = z.strictObject({
  /** TCP+TLS connect (Node only; Workers' fetch has no connect timeout). */
  connectMs: durationMs.optional(),
  /** From sending the request to the response headers (and, for streams, the first body bytes). */
  firstByteMs: durationMs.optional(),
  /** Longest silence between two chunks of a streamed body. */
  idleMs: durationMs.optional(),
  /** The whole request, retries and fallbacks included. */
  totalMs: durationMs.optional(),
})
export type TimeoutsConfig = z.infer<typeof timeoutsSchema>

export const retrySchema = z.strictObject({
  /** Retries per target after the first attempt. */
  maxRetries: z.number().int().min(0).max(10).optional(),
  initialDelayMs: z.number().int().min(0).optional(),
  maxDelayMs: z.number().int().min(0).optional(),
  /** Honour upstream `retry-after` / `retry-after-ms` (within the request deadline). */
  respectRetryAfter: z.boolean().optional(),
})
export type RetryConfig = z.infer<typeof retrySchema>

export const circuitBreakerSchema = z.strictObject({
  enabled: z.boolean().optional(),
  /** Minimum failures in the window before the breaker may open. */
  minFailures: z.number().int().positive().optional(),
  /** Failure ratio (0..1) of the last `windowSize` calls at which it opens. */
  failureRatio: z.number().min(0).max(1).optional(),
  windowSize: z.number().int().positive().optional(),
  windowMs: durationMs.optional(),
  /** First open period before a half-open probe; doubles while probes fail, up to `maxOpenMs`. */
  openMs: durationMs.optional(),
  maxOpenMs: durationMs.optional(),
})
export type CircuitBreakerConfig = z.infer<typeof circuitBreakerSchema>

/** Differences between OpenAI-compatible servers, as flags rather than `if (vendor === ...)`. */
export const compatSchema = z.strictObject({
  /** Server accepts `role: "developer"`; when false it is sent as `system`. */
  developerRole: z.boolean().optional(),
  /** Server accepts `stream_options`; when false it is removed. */
  streamOptions: z.boolean().optional(),
  /** Server accepts `max_completion_tokens`; when false it is sent as `max_tokens`. */
  maxCompletionTokens: z.boolean().optional(),
  /**
   * Server has the Responses API (`POST /responses`): Responses requests are forwarded to it as they are; when false
   * they are converted to Chat Completions. Default: true for `openai`, false for `openai-compatible`.
   */
  responses: z.boolean().optional(),
})
export type CompatConfig = z.infer<typeof compatSchema>

/**
 * The upstream connection pool, per provider origin (Node; Workers' `fetch` pools on its own). Requests beyond
 * `connections` wait for a free connection, within their timeouts.
 */
export const poolSchema = z.strictObject({
  /** Most open connections per origin (default 1024). */
  connections: z.number().int().positive().optional(),
  /** How long an idle connection is kept when the server sends no keep-alive hint (default 4000). */
  keepAliveTimeoutMs: durationMs.optional(),
  /** Ceiling on the idle time a server's keep-alive hint asks for (default 600000). */
  keepAliveMaxTimeoutMs: durationMs.optional(),
  /**
   * Requests in flight on one connection (HTTP/1.1 pipelining, default 1). undici pipelines neither POSTs nor
   * requests that may take long, so only 1 and 0 matter here: 0 turns keep-alive off, one connection per request.
   */
  pipelining: z.number().int().min(0).max(100).optional(),
})
export type PoolConfig = z.infer<typeof poolSchema>

export { providerTypes, type ProviderType } from './provider-types.ts'

/** The weights a local model folder may hold: `onnx/model.onnx` and `onnx/model_quantized.onnx`. */
export const localModelDtypes = ['fp32', 'q8'] as const
export type LocalModelDtype = (typeof localModelDtypes)[number]

export const providerSchema = z.strictObject({
  type: z.enum(providerTypes),
  apiKey: z.string().optional(),
  /** Defaults: https://api.openai.com/v1, https://api.anthropic.com; required for openai-compatible. */
  baseUrl: z.url().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  timeouts: timeoutsSchema.optional(),
  retry: retrySchema.optional(),
  compat: compatSchema.optional(),
  pool: poolSchema.optional(),
  /**
   * Models this provider serves, in addition to (or instead of) the ones its models endpoint advertises. For `local`:
   * the model folders to load (default: every model folder under `directory`).
   */
  models: z.array(z.string().min(1)).optional(),
  /** Fetch the models endpoint for `/v1/models` and unprefixed routing (default true). */
  discoverModels: z.boolean().optional(),
  /** `local`: the folder holding the model folders, relative to the working directory (default `models`). */
  directory: z.string().min(1).optional(),
  /** `local`: worker threads running the models, each with its own copy of them (default 1). */
  workers: z.number().int().min(1).max(64).optional(),
  /** `local`: threads onnxruntime uses inside one forward pass, per worker (default 1). */
  intraOpNumThreads: z.number().int().min(1).max(256).optional(),
  /** `local`: generations one worker runs together, sharing each forward pass (default 8; 1: one at a time). */
  maxBatch: z.number().int().min(1).max(256).optional(),
  /**
   * `local`: text generated within this many ms of the last chunk waits and leaves with it, so thousands of tokens a
   * second are not one write each (default 5; the first token and every token of a slower model leave at once; 0: one
   * chunk per token).
   */
  streamIntervalMs: z.number().min(0).max(1_000).optional(),
  /** `local`: the weights to run: `fp32` (`onnx/model.onnx`, the default) or `q8` (`onnx/model_quantized.onnx`). */
  dtype: z.enum(localModelDtypes).optional(),
  /**
   * `local`: the version folder to serve of a model (`gatehouse-tiny: "2"` serves `models/gatehouse-tiny/2/`); a model
   * not named here serves its highest version. An activation through the admin API overrides it.
   */
  versions: z.record(z.string(), z.string().min(1)).optional(),
  /** `local`: the weights of a model, when not `dtype` (`gatehouse-tiny: q8` runs its int8 weights, the others `dtype`). */
  dtypes: z.record(z.string(), z.enum(localModelDtypes)).optional(),
})
export type ProviderConfig = z.infer<typeof providerSchema>

export const targetSchema = z.strictObject({
  provider: z.string().min(1),
  model: z.string().min(1),
  /** Relative share of first attempts; targets without weights are tried in order. */
  weight: z.number().positive().optional(),
})
export type TargetConfig = z.infer<typeof targetSchema>

/** Finish reasons a route may refuse to cache (`content-filter` and `error` never are). */
export const cacheableFinishReasons = ['stop', 'length', 'tool-calls', 'other'] as const

/**
 * The prompt cache's settings that a route may set for itself (`routes[].cache`), over the global ones (`cache`).
 * Off unless configured.
 */
export const cachePolicySchema = z.strictObject({
  /** Answer repeated requests from the cache (default false). */
  enabled: z.boolean().optional(),
  /** How long an answer is kept, in seconds (default 3600). */
  ttlSeconds: z.number().int().positive().optional(),
  /** The longest TTL a request may ask for (`x-gatehouse-cache-ttl`), in seconds (default 604800, a week). */
  maxTtlSeconds: z.number().int().positive().optional(),
  /** One cache for every tenant on this route instead of one per tenant (default false). */
  shareAcrossTenants: z.boolean().optional(),
  /** Requests with a `temperature` above this are not cached (default 1). */
  maxTemperature: z.number().min(0).optional(),
  /** Cache requests with `n > 1` or a temperature above `maxTemperature` all the same (default false). */
  nonDeterministic: z.boolean().optional(),
  /** Answers that stopped for one of these reasons are not stored (default none). */
  excludeFinishReasons: z.array(z.enum(cacheableFinishReasons)).optional(),
})
export type CachePolicyConfig = z.infer<typeof cachePolicySchema>

export const routeSchema = z.strictObject({
  /** The public model name clients send. */
  name: z.string().min(1),
  targets: z.array(targetSchema).min(1),
  timeouts: timeoutsSchema.optional(),
  retry: retrySchema.optional(),
  /** Upstream statuses that move on to the next target at once (in addition to spent retries). */
  fallbackOn: z.array(z.number().int().min(400).max(599)).optional(),
  /**
   * Short requests go to this target first (typically the local model), the route's targets following as fallbacks:
   * a request is short when it bounds its output (`max_tokens`...) at most `maxOutputTokens` and its input is
   * estimated at most `maxInputTokens`.
   */
  shortRequests: z
    .strictObject({
      provider: z.string().min(1),
      model: z.string().min(1),
      maxInputTokens: z.number().int().positive(),
      maxOutputTokens: z.number().int().positive(),
    })
    .optional(),
  /** The prompt cache on this route: these fields over the global `cache` ones. */
  cache: cachePolicySchema.optional(),
})
export type RouteConfig = z.infer<typeof routeSchema>

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().optional(),
      port: z.number().int().min(0).max(65535).optional(),
      /** Largest accepted request body in bytes (default 32 MiB); larger gets a 413. */
      bodyLimitBytes: z.number().int().positive().optional(),
      /** On SIGTERM, how long in-flight requests get to finish. */
      drainTimeoutMs: durationMs.optional(),
      /**
       * Node: how long a client may take to send a whole request, headers and body (default 60000); past it the
       * connection gets a 408 and is closed, so a client that trickles its body does not hold a connection for long.
       */
      requestTimeoutMs: durationMs.optional(),
    })
    .optional(),
  auth: z
    .strictObject({
      /** Key clients present as `Authorization: Bearer` or `x-api-key`. */
      masterKey: z.string().min(1).optional(),
    })
    .optional(),
  providers: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'),
      providerSchema
    )
    .default({}),
  routes: z.array(routeSchema).default([]),
  /**
   * Targets tried, in order, after the model's own when every one of those failed, timed out or has its circuit open,
   * for every model that has no route of its own (a route lists its fallbacks itself): typically the local model, so
   * that an outage of every provider still gets an answer. A target whose provider the runtime lacks is skipped.
   */
  fallbacks: z
    .array(z.strictObject({ provider: z.string().min(1), model: z.string().min(1) }))
    .optional(),
  /** Provider that serves an unprefixed, unknown model, per client dialect. */
  defaultProvider: z
    .strictObject({ openai: z.string().optional(), anthropic: z.string().optional() })
    .optional(),
  timeouts: timeoutsSchema.optional(),
  retry: retrySchema.optional(),
  circuitBreaker: circuitBreakerSchema.optional(),
  /** Upstream pool settings for every provider; a provider's own `pool` overrides them field by field. */
  pool: poolSchema.optional(),
  /**
   * Per-model facts the gateway needs, e.g. `max_tokens` injected for Anthropic when an OpenAI client sends none,
   * `api: responses` for a model an OpenAI upstream serves only through its Responses API, and `reasoning`: which
   * reasoning control a converted request's reasoning settings reach it through (`ReasoningControl`).
   */
  models: z
    .record(
      z.string(),
      z.strictObject({
        maxOutputTokens: z.number().int().positive().optional(),
        api: z.enum(['chat', 'responses']).optional(),
        reasoning: z.enum(['effort', 'budget', 'openai', 'none']).optional(),
      })
    )
    .optional(),
  /** Cache lifetime of provider model lists. */
  modelListTtlMs: durationMs.optional(),
  /**
   * Where tenants, keys and usage are kept (Node): a SQLite file by default (`./data/gatehouse.db`, created on first
   * start), or PostgreSQL with a `postgres://` URL. `DATABASE_URL` sets it from the environment.
   */
  database: z
    .strictObject({
      url: z.string().min(1).optional(),
    })
    .optional(),
  /**
   * What gateway processes share (rate-limit counters, budget reservations, key revocations). Unset: kept in the
   * process, which serves one process only. `REDIS_URL` sets the URL from the environment.
   */
  redis: z
    .strictObject({
      url: z
        .string()
        .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
        .optional(),
      /** Prefix of every key, one per deployment sharing a Redis (default `gatehouse:`). */
      keyPrefix: z.string().optional(),
      /** Longest wait for one Redis operation before the failure policy applies (default 50). */
      timeoutMs: durationMs.optional(),
    })
    .optional(),
  /**
   * The prompt cache: repeated requests answered from memory or Redis. Off unless `enabled` here or on a route. The
   * policy fields are the default of every route, which may set its own (`routes[].cache`).
   */
  cache: cachePolicySchema
    .extend({
      /** `memory` (the default: an LRU in each process) or `redis` (shared; needs `redis.url`). */
      backend: z.enum(['memory', 'redis']).optional(),
      /** Bytes of answers the memory backend keeps at most (default 134217728, 128 MiB). */
      maxBytes: z.number().int().positive().optional(),
      /** Longest wait for one Redis cache operation before the request goes upstream (default `redis.timeoutMs`). */
      timeoutMs: durationMs.optional(),
      /** Redis values at least this large are gzipped when that makes them smaller (default 1024 bytes). */
      compressAboveBytes: z.number().int().min(0).optional(),
      /**
       * With `redis`: how long a request waits for an identical one in flight in another process before it goes
       * upstream itself (default 30000; never longer than the route's total timeout).
       */
      flightWaitMs: durationMs.optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      /**
       * When Redis cannot be reached in time: `open` lets requests through unmetered, `closed` refuses them with a
       * 503 (default `open`). Logged once per outage either way.
       */
      onStoreFailure: z.enum(['open', 'closed']).optional(),
      /**
       * With Redis: for how many ms a process may admit a busy key's requests from a block of quota it took from Redis
       * in one step (default 200), instead of one Redis call each way per request. Blocks are taken only far from
       * every limit and budget, so limits stay exact; 0 checks every request in Redis.
       */
      blockMs: z.int().min(0).max(5_000).optional(),
    })
    .optional(),
  usage: z
    .strictObject({
      /**
       * Days raw usage events are kept, or `forever` (default 90); older ones are deleted at start and every hour.
       * Usage reads never need them: they read the roll-ups.
       */
      retentionDays: retentionDays.optional(),
      /**
       * Days hourly roll-ups are kept, or `forever` (default 400); the daily roll-ups are kept for good. Reads over
       * older ranges answer from the daily roll-ups, by whole UTC days.
       */
      hourlyRetentionDays: retentionDays.optional(),
      /** Events written per batch (default 500) and the longest wait before a partial batch goes (default 1000). */
      batchSize: z.number().int().positive().optional(),
      flushIntervalMs: durationMs.optional(),
      /** Events held while the store cannot be written to, before the oldest are counted and dropped (default 100000). */
      maxBuffered: z.number().int().positive().optional(),
      /**
       * Also write each event as a `usage` log line. Default: on where no store keeps the events (Workers), off where
       * one does (Node), since a line per request costs a tenth of a plain call's CPU. `USAGE_LOG=true` in the env.
       */
      log: z.boolean().optional(),
      /**
       * Background responses (`background: true` to an OpenAI upstream, answered before the model ran): how the
       * gateway (Node) polls their provider until they finish, to record their tokens and cost and settle their budget
       * reservation. The first poll `initialDelayMs` after the create (default 1000), then after as long again as the
       * response's age (doubling), at most `maxDelayMs` apart (default 30000), for at most `maxAgeMs` after the create
       * (default 21600000, 6 h; then it gives up and charges the reservation in full); due responses no instance
       * announced (after a restart) are searched for every `sweepIntervalMs` (default 30000).
       */
      backgroundPolling: z
        .strictObject({
          initialDelayMs: durationMs.optional(),
          maxDelayMs: durationMs.optional(),
          maxAgeMs: durationMs.optional(),
          sweepIntervalMs: durationMs.optional(),
        })
        .optional(),
    })
    .optional(),
  /**
   * Prices in USD per million tokens, by model id, `provider/model` or a pattern with `*`; they take precedence over
   * the shipped table (config/price-table.ts). A model with no price has its cost recorded as unknown, never as free.
   */
  prices: priceOverridesSchema.optional(),
})
export type GatewayConfig = z.infer<typeof configSchema>
