/**
 * Applies the gateway's defaults to a validated config, once at start-up, so the hot path reads plain numbers.
 * Defaults and their reasons: README "Failure handling".
 */
import type {
  CachePolicyConfig,
  CircuitBreakerConfig,
  CompatConfig,
  GatewayConfig,
  LocalModelDtype,
  PoolConfig,
  ProviderType,
  RetryConfig,
  TimeoutsConfig,
} from '../../config/config-schema.ts'
import {
  builtInModelApi,
  builtInReasoningControl,
  modelMaxOutputTokens,
  type ModelApi,
} from '../../config/model-table.ts'
import type { ReasoningControl } from '../../providers/spec/chat-types.ts'
import { createPriceTable, type PriceTable } from '../../config/price-table.ts'

export type Timeouts = Required<TimeoutsConfig>
export type RetryPolicy = Required<RetryConfig>
export type CircuitBreakerPolicy = Required<CircuitBreakerConfig>

export const defaultTimeouts: Timeouts = {
  connectMs: 10_000,
  firstByteMs: 300_000,
  idleMs: 120_000,
  /** Under the official SDKs' 600 s default, so clients see our 504 rather than their own timeout. */
  totalMs: 580_000,
}

export const defaultRetry: RetryPolicy = {
  maxRetries: 2,
  initialDelayMs: 250,
  maxDelayMs: 4_000,
  respectRetryAfter: true,
}

export const defaultCircuitBreaker: CircuitBreakerPolicy = {
  enabled: true,
  minFailures: 5,
  failureRatio: 0.5,
  windowSize: 20,
  windowMs: 60_000,
  openMs: 30_000,
  maxOpenMs: 300_000,
}

export const defaultBodyLimitBytes = 32 * 1024 * 1024

export type PoolPolicy = Required<PoolConfig>

/**
 * Upstream pool per provider origin. `connections` is bounded so that a burst cannot open sockets without limit, and
 * high because each request, a stream included, holds its connection until it ends: at 1024 (Envoy's default per
 * upstream cluster) a provider serving minute-long streams still takes about 17 new ones a second before requests
 * queue. The keep-alive and pipelining values are undici's defaults.
 */
export const defaultPool: PoolPolicy = {
  connections: 1024,
  keepAliveTimeoutMs: 4_000,
  keepAliveMaxTimeoutMs: 600_000,
  pipelining: 1,
}

export type ResolvedProvider = {
  id: string
  type: ProviderType
  apiKey?: string
  baseUrl?: string
  headers: Record<string, string>
  timeouts: Timeouts
  retry: RetryPolicy
  compat: Required<CompatConfig>
  /** Global `pool`, then the provider's, over `defaultPool` (per field). */
  pool: PoolPolicy
  models: string[]
  discoverModels: boolean
  /** Set for type `local` only: where its model folders are and how they run. */
  local?: LocalProviderSettings
}

/** A `local` provider's settings, every one set. */
export type LocalProviderSettings = {
  /** As configured: relative paths are the runtime's to resolve (Node: against the working directory). */
  directory: string
  /** The model folders to load; `null`: every model folder under `directory`. */
  models: string[] | null
  workers: number
  intraOpNumThreads: number
  maxBatch: number
  streamIntervalMs: number
  dtype: LocalModelDtype
  /** The version folder to serve of each model named here; the others serve their highest. */
  versions: Record<string, string>
  /** The weights of each model named here; the others run `dtype`. */
  dtypes: Record<string, LocalModelDtype>
}

/**
 * One worker thread with one onnxruntime thread: at the shipped model's size a second intra-op thread costs more in
 * synchronisation than it saves, and more workers are a choice for the operator, who knows the machine's cores. Up to
 * eight generations share each forward pass: on a CPU a step for eight rows costs little more than for one.
 */
export const defaultLocalProvider: Omit<LocalProviderSettings, 'models'> = {
  directory: 'models',
  workers: 1,
  intraOpNumThreads: 1,
  maxBatch: 8,
  streamIntervalMs: 5,
  dtype: 'fp32',
  versions: {},
  dtypes: {},
}

/** The prompt cache's policy on one route (or the default one), every field set. */
export type CachePolicy = {
  enabled: boolean
  ttlMs: number
  /** The longest TTL a request may ask for. */
  maxTtlMs: number
  shareAcrossTenants: boolean
  maxTemperature: number
  /** Cache `n > 1` and temperatures above `maxTemperature` too. */
  nonDeterministic: boolean
  /** Unified finish reasons (`length`, `tool-calls`...) whose answers are not stored. */
  excludeFinishReasons: readonly string[]
}

export type ResolvedCache = {
  /** On for the default or for some route: otherwise nothing of the cache is built, and requests never look. */
  enabled: boolean
  backend: 'memory' | 'redis'
  maxBytes: number
  timeoutMs: number
  compressAboveBytes: number
  /**
   * How long a request waits for an identical one in flight in another process (a shared backend) before it goes
   * upstream itself; never longer than its route's total timeout.
   */
  flightWaitMs: number
  /** Requests that reach no route with settings of its own (`provider/model`, discovered models, defaults). */
  defaults: CachePolicy
  /** By route name, for every configured route: its `cache` fields over the defaults. */
  routes: Record<string, CachePolicy>
}

export const defaultCachePolicy: CachePolicy = {
  enabled: false,
  ttlMs: 3_600_000,
  maxTtlMs: 604_800_000,
  shareAcrossTenants: false,
  maxTemperature: 1,
  nonDeterministic: false,
  excludeFinishReasons: [],
}

const resolveCachePolicy = (
  base: CachePolicy,
  layer: CachePolicyConfig | undefined
): CachePolicy => ({
  enabled: layer?.enabled ?? base.enabled,
  ttlMs: layer?.ttlSeconds === undefined ? base.ttlMs : layer.ttlSeconds * 1000,
  maxTtlMs: layer?.maxTtlSeconds === undefined ? base.maxTtlMs : layer.maxTtlSeconds * 1000,
  shareAcrossTenants: layer?.shareAcrossTenants ?? base.shareAcrossTenants,
  maxTemperature: layer?.maxTemperature ?? base.maxTemperature,
  nonDeterministic: layer?.nonDeterministic ?? base.nonDeterministic,
  excludeFinishReasons: layer?.excludeFinishReasons ?? base.excludeFinishReasons,
})

export type ResolvedRoute = {
  name: string
  targets: { provider: string; model: string; weight?: number }[]
  /** Route settings override provider settings, which override global ones (per field). */
  timeouts?: TimeoutsConfig
  retry?: RetryConfig
  fallbackOn: number[]
  /** The target short requests go to first (`routes[].shortRequests`). */
  shortRequests?: {
    provider: string
    model: string
    maxInputTokens: number
    maxOutputTokens: number
  }
}

export type ResolvedConfig = {
  server: {
    host: string
    port: number
    bodyLimitBytes: number
    drainTimeoutMs: number
    requestTimeoutMs: number
  }
  masterKey?: string
  providers: Record<string, ResolvedProvider>
  routes: Record<string, ResolvedRoute>
  /** Tried after the model's own targets, for every model without a route (`fallbacks`). */
  fallbacks: { provider: string; model: string }[]
  defaultProvider: { openai?: string; anthropic?: string }
  circuitBreaker: CircuitBreakerPolicy
  models: Record<string, { maxOutputTokens?: number; api?: ModelApi; reasoning?: ReasoningControl }>
  /** A model's maximum output: the config's `models` table, else the built-in one; `undefined` when neither knows. */
  maxOutputTokens: (model: string) => number | undefined
  /**
   * How an OpenAI upstream serves a model: `responses` for one it serves only through the Responses API (the config's
   * `models.<name>.api`, else the built-in list of OpenAI's pro and Codex models), else `chat`.
   */
  modelApi: (model: string) => ModelApi
  /**
   * Which reasoning control a model takes (the config's `models.<name>.reasoning`, else the built-in table);
   * `undefined` when neither knows (the adapter then uses its provider's newest control).
   */
  reasoningControl: (model: string) => ReasoningControl | undefined
  modelListTtlMs: number
  /** `null`: the runtime's default (on Node, a SQLite file under `./data/`). */
  database: { url: string | null }
  /** `url: null`: nothing shared, limits kept in the process. */
  redis: { url: string | null; keyPrefix: string; timeoutMs: number }
  limits: { onStoreFailure: 'open' | 'closed'; blockMs: number }
  /** The prompt cache (`src/core/cache/`). */
  cache: ResolvedCache
  usage: {
    /** Days raw usage events are kept; `null`: for good. */
    retentionDays: number | null
    /** Days hourly roll-ups are kept; `null`: for good. Daily roll-ups are always kept. */
    hourlyRetentionDays: number | null
    batchSize: number
    flushIntervalMs: number
    maxBuffered: number
    /** A `usage` log line per event; `null`: the runtime's default (on where no store keeps events). */
    log: boolean | null
    /** How background responses are polled for their usage (`background-poller.ts`). */
    backgroundPolling: BackgroundPolling
  }
  /** What a model's tokens cost: the config's `prices` over the shipped table. */
  prices: PriceTable
}

/** How the gateway polls a provider for the background responses it forwarded, until they finish. */
export type BackgroundPolling = {
  /** After the create, the first poll; then as long again as the response's age, doubling. */
  initialDelayMs: number
  /** The longest wait between two polls. */
  maxDelayMs: number
  /** How long after its create a response is polled at most; then the poller gives up. */
  maxAgeMs: number
  /** How often the store is searched for due responses no instance announced (a restart's). */
  sweepIntervalMs: number
}

/**
 * A first look a second after the create, then doubling to every 30 s: a short answer is known within a second or
 * two, a long one costs a request per 30 s. Six hours covers the longest tasks OpenAI runs in background (deep
 * research, pro models) many times over.
 */
export const defaultBackgroundPolling: BackgroundPolling = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  maxAgeMs: 6 * 3_600_000,
  sweepIntervalMs: 30_000,
}

/**
 * Raw events for 90 days (enough to look into a recent month's requests one by one); hourly roll-ups for 400 days (a
 * year and a month: an hourly chart can still be set beside the same weeks a year before). An hourly row stands for
 * at least one event, so even at worst (every event of its own hour, tenant, key, model, provider and user) the
 * hourly table holds no more rows than 400 days of events would.
 */
export const defaultUsagePolicy: ResolvedConfig['usage'] = {
  retentionDays: 90,
  hourlyRetentionDays: 400,
  batchSize: 500,
  flushIntervalMs: 1_000,
  maxBuffered: 100_000,
  log: null,
  backgroundPolling: defaultBackgroundPolling,
}

const pickDefined = <T extends object>(...layers: (Partial<T> | undefined)[]): Partial<T> => {
  const out: Partial<T> = {}
  for (const layer of layers) {
    if (!layer) continue
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined) (out as Record<string, unknown>)[key] = value
    }
  }
  return out
}

/** A retention setting: `forever` is `null` (nothing deleted), absent is the default. */
const keptDays = (value: number | 'forever' | undefined, fallback: number | null): number | null =>
  value === 'forever' ? null : (value ?? fallback)

/** Layers timeouts: defaults, then global, provider, route (later wins per field). */
export const mergeTimeouts = (...layers: (TimeoutsConfig | undefined)[]): Timeouts =>
  ({ ...defaultTimeouts, ...pickDefined<TimeoutsConfig>(...layers) }) as Timeouts

export const mergeRetry = (...layers: (RetryConfig | undefined)[]): RetryPolicy =>
  ({ ...defaultRetry, ...pickDefined<RetryConfig>(...layers) }) as RetryPolicy

export const resolveConfig = (config: GatewayConfig): ResolvedConfig => {
  const providers: Record<string, ResolvedProvider> = {}
  for (const [id, provider] of Object.entries(config.providers)) {
    providers[id] = {
      id,
      type: provider.type,
      apiKey: provider.apiKey,
      baseUrl: provider.baseUrl?.replace(/\/+$/, ''),
      headers: provider.headers ?? {},
      timeouts: mergeTimeouts(config.timeouts, provider.timeouts),
      retry: mergeRetry(config.retry, provider.retry),
      compat: {
        developerRole: provider.compat?.developerRole ?? provider.type !== 'openai-compatible',
        streamOptions: provider.compat?.streamOptions ?? true,
        maxCompletionTokens:
          provider.compat?.maxCompletionTokens ?? provider.type !== 'openai-compatible',
        responses: provider.compat?.responses ?? provider.type !== 'openai-compatible',
      },
      pool: {
        ...defaultPool,
        ...pickDefined<PoolConfig>(config.pool, provider.pool),
      } as PoolPolicy,
      models: provider.models ?? [],
      discoverModels: provider.discoverModels ?? true,
    }
    if (provider.type === 'local') {
      providers[id].local = {
        directory: provider.directory ?? defaultLocalProvider.directory,
        models: provider.models ?? null,
        workers: provider.workers ?? defaultLocalProvider.workers,
        intraOpNumThreads: provider.intraOpNumThreads ?? defaultLocalProvider.intraOpNumThreads,
        maxBatch: provider.maxBatch ?? defaultLocalProvider.maxBatch,
        streamIntervalMs: provider.streamIntervalMs ?? defaultLocalProvider.streamIntervalMs,
        dtype: provider.dtype ?? defaultLocalProvider.dtype,
        versions: provider.versions ?? {},
        dtypes: provider.dtypes ?? {},
      }
    }
  }
  const routes: Record<string, ResolvedRoute> = {}
  for (const route of config.routes) {
    routes[route.name] = {
      name: route.name,
      targets: route.targets,
      timeouts: route.timeouts,
      retry: route.retry,
      fallbackOn: route.fallbackOn ?? [],
      shortRequests: route.shortRequests,
    }
  }
  const models = config.models ?? {}
  const cacheDefaults = resolveCachePolicy(defaultCachePolicy, config.cache)
  const cacheRoutes: Record<string, CachePolicy> = {}
  for (const route of config.routes)
    cacheRoutes[route.name] = resolveCachePolicy(cacheDefaults, route.cache)
  const redisTimeoutMs = config.redis?.timeoutMs ?? 50
  return {
    server: {
      host: config.server?.host ?? '127.0.0.1',
      port: config.server?.port ?? 8080,
      bodyLimitBytes: config.server?.bodyLimitBytes ?? defaultBodyLimitBytes,
      drainTimeoutMs: config.server?.drainTimeoutMs ?? 30_000,
      requestTimeoutMs: config.server?.requestTimeoutMs ?? 60_000,
    },
    masterKey: config.auth?.masterKey,
    providers,
    routes,
    fallbacks: config.fallbacks ?? [],
    defaultProvider: config.defaultProvider ?? {},
    circuitBreaker: {
      ...defaultCircuitBreaker,
      ...pickDefined<CircuitBreakerConfig>(config.circuitBreaker),
    },
    models,
    maxOutputTokens: (model) => models[model]?.maxOutputTokens ?? modelMaxOutputTokens(model),
    modelApi: (model) => models[model]?.api ?? builtInModelApi(model),
    reasoningControl: (model) => models[model]?.reasoning ?? builtInReasoningControl(model),
    modelListTtlMs: config.modelListTtlMs ?? 600_000,
    database: { url: config.database?.url ?? null },
    redis: {
      url: config.redis?.url ?? null,
      keyPrefix: config.redis?.keyPrefix ?? 'gatehouse:',
      timeoutMs: redisTimeoutMs,
    },
    limits: {
      onStoreFailure: config.limits?.onStoreFailure ?? 'open',
      blockMs: config.limits?.blockMs ?? 200,
    },
    cache: {
      enabled: cacheDefaults.enabled || Object.values(cacheRoutes).some((policy) => policy.enabled),
      backend: config.cache?.backend ?? 'memory',
      maxBytes: config.cache?.maxBytes ?? 128 * 1024 * 1024,
      timeoutMs: config.cache?.timeoutMs ?? redisTimeoutMs,
      compressAboveBytes: config.cache?.compressAboveBytes ?? 1024,
      flightWaitMs: config.cache?.flightWaitMs ?? 30_000,
      defaults: cacheDefaults,
      routes: cacheRoutes,
    },
    usage: {
      ...defaultUsagePolicy,
      // The retentions are set below (`forever` is `null`); every other setting as given.
      ...pickDefined<ResolvedConfig['usage']>({
        ...config.usage,
        retentionDays: undefined,
        hourlyRetentionDays: undefined,
        backgroundPolling: undefined,
      }),
      backgroundPolling: {
        ...defaultBackgroundPolling,
        ...pickDefined<BackgroundPolling>(config.usage?.backgroundPolling),
      },
      retentionDays: keptDays(config.usage?.retentionDays, defaultUsagePolicy.retentionDays),
      hourlyRetentionDays: keptDays(
        config.usage?.hourlyRetentionDays,
        defaultUsagePolicy.hourlyRetentionDays
      ),
    },
    prices: createPriceTable({ providers, overrides: config.prices ?? {} }),
  }
}
