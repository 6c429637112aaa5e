/**
 * One adapter per configured provider instance, built at start-up by the factories the runtime passes in: the core
 * never imports an adapter, so a Node-only provider (the local model) never enters the Workers bundle. A runtime
 * leaves out the types it names as running elsewhere (Workers: `local`), so one config serves both runtimes: routes,
 * fallbacks and model lists go on without them. For any other type it has no factory for, it refuses to start,
 * naming the provider.
 */
import type { ProviderAdapter } from '../../providers/spec/provider-adapter.ts'
import type { ProviderType } from '../../config/config-schema.ts'
import type { ResolvedProvider } from './resolve-config.ts'

export type ProviderEntry = {
  config: ResolvedProvider
  adapter: ProviderAdapter
}

export interface ProviderRegistry {
  get(id: string): ProviderEntry | undefined
  list(): readonly ProviderEntry[]
  /** Starts every adapter that has something to prepare (`ProviderAdapter.start`), in parallel; failures are reported. */
  start(): Promise<{ failed: { provider: string; error: unknown }[] }>
  /** Closes every adapter (pools, worker threads), in parallel; a failure is reported, not thrown. */
  close(): Promise<{ failed: { provider: string; error: unknown }[] }>
}

/** Builds the adapter of one configured instance (credentials, base URL, pool and compat are in `provider`). */
export type ProviderFactory = (provider: ResolvedProvider) => ProviderAdapter

/** The provider types a runtime can build. */
export type ProviderFactories = Partial<Record<ProviderType, ProviderFactory>>

export type RegistryResult =
  | {
      ok: true
      registry: ProviderRegistry
      /** The providers left out, of a type the runtime says runs elsewhere. */
      leftOut: { id: string; type: ProviderType }[]
    }
  | { ok: false; errors: string[] }

export const createProviderRegistry = (options: {
  providers: Record<string, ResolvedProvider>
  factories: ProviderFactories
  /** For the start-up error: `Node`, `Workers`. */
  runtimeName: string
  /** Types that run in another runtime only (Workers: `local`): their providers are left out, not an error. */
  elsewhere?: readonly ProviderType[]
}): RegistryResult => {
  const entries = new Map<string, ProviderEntry>()
  const errors: string[] = []
  const leftOut: { id: string; type: ProviderType }[] = []
  for (const provider of Object.values(options.providers)) {
    const factory = options.factories[provider.type]
    if (factory === undefined && options.elsewhere?.includes(provider.type)) {
      leftOut.push({ id: provider.id, type: provider.type })
      continue
    }
    if (factory === undefined) {
      errors.push(
        `providers.${provider.id}: a provider of type ${provider.type} cannot run on ${options.runtimeName}`
      )
      continue
    }
    entries.set(provider.id, { config: provider, adapter: factory(provider) })
  }
  if (errors.length > 0) return { ok: false, errors }
  const list = [...entries.values()]
  return {
    ok: true,
    leftOut,
    registry: {
      get: (id) => entries.get(id),
      list: () => list,
      async start() {
        const failed: { provider: string; error: unknown }[] = []
        await Promise.all(
          list.map(async (entry) => {
            try {
              await entry.adapter.start?.()
            } catch (error) {
              failed.push({ provider: entry.config.id, error })
            }
          })
        )
        return { failed }
      },
      async close() {
        const failed: { provider: string; error: unknown }[] = []
        await Promise.all(
          list.map(async (entry) => {
            try {
              await entry.adapter.close?.()
            } catch (error) {
              failed.push({ provider: entry.config.id, error })
            }
          })
        )
        return { failed }
      },
    },
  }
}
