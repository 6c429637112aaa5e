/**
 * The models each provider serves: its configured `models` plus what its models endpoint advertises
 * (https://platform.openai.com/docs/api-reference/models/list, https://docs.anthropic.com/en/api/models-list).
 * Lists are cached for `ttlMs` and kept (stale) when a refresh fails, so routing by unprefixed name and
 * `GET /v1/models` survive a provider's models endpoint being down.
 */
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { ModelInfo } from '../../providers/spec/provider-adapter.ts'
import type { Clock } from './clock.ts'
import { createAttemptScope } from './deadline.ts'
import type { Logger } from './logger.ts'
import type { ProviderEntry, ProviderRegistry } from './provider-registry.ts'

/** Models each provider advertises, fetched from its models endpoint, cached (TTL), stale on failure. */
export interface ModelCatalog {
  /** Every provider's models (configured `models` plus discovered ones); a provider that fails yields what it had. */
  list(): Promise<{ providerId: string; models: ModelInfo[] }[]>
  /**
   * Provider ids whose list contains `model` (exact id match): directly once every list is known and indexed (every
   * request but the first few), else through a promise. The catalog's own array, not a copy: read it, never change it.
   */
  providersOf(model: string): readonly string[] | Promise<readonly string[]>
}

export type ModelCatalogOptions = {
  registry: ProviderRegistry
  clock: Clock
  logger: Logger
  ttlMs: number
  /** A models endpoint slower than this is treated as failed (default 5 s): routing waits on it. */
  fetchTimeoutMs?: number
  /** After a failed fetch, how long before trying again (default: the smaller of `ttlMs` and 30 s). */
  retryAfterFailureMs?: number
}

type CacheEntry = {
  models: ModelInfo[] | null
  /** Epoch ms after which the list is fetched again. */
  refreshAt: number
  inFlight: Promise<ModelInfo[] | null> | null
}

/** What `providersOf` answers for a model no provider lists (shared: nobody changes it). */
const noProviders: readonly string[] = Object.freeze([])

export const createModelCatalog = (options: ModelCatalogOptions): ModelCatalog => {
  const { registry, clock, logger, ttlMs } = options
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5_000
  const retryAfterFailureMs = options.retryAfterFailureMs ?? Math.min(ttlMs, 30_000)
  const cache = new Map<string, CacheEntry>()
  /** Bumped whenever a provider's list changes, so the model → providers index is rebuilt only then. */
  let version = 0
  let index: { version: number; providersByModel: Map<string, string[]> } | null = null

  const fetchModels = async (
    entry: ProviderEntry,
    cached: CacheEntry
  ): Promise<ModelInfo[] | null> => {
    const providerId = entry.config.id
    const scope = createAttemptScope({ clock, firstByteMs: fetchTimeoutMs, providerId })
    try {
      const models = await scope.race(
        entry.adapter.listModels!({
          signal: scope.signal,
          requestId: `model-catalog-${providerId}`,
          connectTimeoutMs: entry.config.timeouts.connectMs,
        })
      )
      cached.models = models
      cached.refreshAt = clock.now() + ttlMs
      version += 1
    } catch (error) {
      cached.refreshAt = clock.now() + retryAfterFailureMs
      logger.warn(
        {
          provider: providerId,
          kind: error instanceof ProviderError ? error.kind : 'unknown',
          status: error instanceof ProviderError ? error.status : null,
          stale: cached.models !== null,
        },
        'model list fetch failed; keeping the previous list'
      )
    } finally {
      scope.dispose()
      cached.inFlight = null
    }
    return cached.models
  }

  /**
   * Starts a refresh when one is due, and returns what a caller must wait for: `null` when the list is known (stale
   * while revalidating: once a list is known, no request waits for its refresh) or the provider is not discovered.
   */
  const refresh = (entry: ProviderEntry): Promise<ModelInfo[] | null> | null => {
    if (!entry.config.discoverModels || !entry.adapter.listModels) return null
    let cached = cache.get(entry.config.id)
    if (!cached) {
      cached = { models: null, refreshAt: 0, inFlight: null }
      cache.set(entry.config.id, cached)
    }
    if (!cached.inFlight && clock.now() >= cached.refreshAt)
      cached.inFlight = fetchModels(entry, cached)
    return cached.models !== null ? null : cached.inFlight
  }

  /**
   * A provider that runs its models itself (`modelVersions`: the local model) lists them from memory, so its list is
   * read each time: its display names show the version serving now, right after an activation. Routing by name
   * (`providersOf`) keeps the cached list: activations change versions, never names.
   */
  const discovered = async (entry: ProviderEntry): Promise<ModelInfo[] | null> => {
    const { adapter } = entry
    if (adapter.modelVersions !== undefined && adapter.listModels && entry.config.discoverModels) {
      await refresh(entry)
      // Read from memory: nothing aborts it. (Not a module constant: Workers refuse one made at load.)
      return adapter.listModels({
        signal: new AbortController().signal,
        requestId: 'model-catalog',
      })
    }
    return (await refresh(entry)) ?? cache.get(entry.config.id)?.models ?? null
  }

  const modelsOf = async (entry: ProviderEntry): Promise<ModelInfo[]> => {
    const models = [...((await discovered(entry)) ?? [])]
    const seen = new Set(models.map((model) => model.id))
    for (const id of entry.config.models) {
      if (!seen.has(id)) {
        seen.add(id)
        models.push({ id })
      }
    }
    return models
  }

  const list = async (): Promise<{ providerId: string; models: ModelInfo[] }[]> =>
    Promise.all(
      registry
        .list()
        .map(async (entry) => ({ providerId: entry.config.id, models: await modelsOf(entry) }))
    )

  /** On the request path for every unprefixed model name: a map lookup once the lists are known. */
  const providersOf = (model: string): readonly string[] | Promise<readonly string[]> => {
    let waits: Promise<unknown>[] | null = null
    for (const entry of registry.list()) {
      const wait = refresh(entry)
      if (wait !== null) (waits ??= []).push(wait)
    }
    if (waits === null && index?.version === version)
      return index.providersByModel.get(model) ?? noProviders
    return indexedProvidersOf(model, waits)
  }

  /** `providersOf` once the lists it waits for are in, and the index rebuilt when they changed. */
  const indexedProvidersOf = async (
    model: string,
    waits: Promise<unknown>[] | null
  ): Promise<readonly string[]> => {
    if (waits !== null) await Promise.all(waits)
    if (index?.version !== version) {
      const providersByModel = new Map<string, string[]>()
      const builtAt = version
      for (const { providerId, models } of await list()) {
        for (const { id } of models)
          providersByModel.set(id, [...(providersByModel.get(id) ?? []), providerId])
      }
      index = { version: builtAt, providersByModel }
    }
    return index.providersByModel.get(model) ?? noProviders
  }

  return { list, providersOf }
}
