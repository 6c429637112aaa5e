/**
 * Builds one adapter per configured provider instance, with its credentials resolved once at start-up.
 * Adapters never read the environment; the runtime entry put everything into the config.
 */
import type { ProviderAdapter, ProviderCredentials } from '../../providers/spec/provider-adapter.ts'
import { createAnthropicAdapter } from '../../providers/anthropic/anthropic-adapter.ts'
import { createOpenAIAdapter } from '../../providers/openai/openai-adapter.ts'
import type { ResolvedConfig, ResolvedProvider } from './resolve-config.ts'

export type ProviderEntry = {
  config: ResolvedProvider
  adapter: ProviderAdapter
  credentials: ProviderCredentials
}

export interface ProviderRegistry {
  get(id: string): ProviderEntry | undefined
  list(): readonly ProviderEntry[]
}

const createAdapter = (provider: ResolvedProvider): ProviderAdapter => {
  switch (provider.type) {
    case 'anthropic':
      return createAnthropicAdapter({ id: provider.id })
    case 'openai':
    case 'openai-compatible':
      return createOpenAIAdapter({ id: provider.id, compat: provider.compat })
  }
}

export const createProviderRegistry = (config: ResolvedConfig): ProviderRegistry => {
  const entries = new Map<string, ProviderEntry>()
  for (const provider of Object.values(config.providers)) {
    const adapter = createAdapter(provider)
    entries.set(provider.id, {
      config: provider,
      adapter,
      credentials: {
        apiKey: provider.apiKey,
        baseUrl: provider.baseUrl ?? adapter.defaultBaseUrl,
        headers: provider.headers,
      },
    })
  }
  const list = [...entries.values()]
  return { get: (id) => entries.get(id), list: () => list }
}
