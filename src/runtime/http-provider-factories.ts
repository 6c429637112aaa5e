/**
 * The HTTP providers both runtimes can build, each instance with the transport the runtime gives it (Node: a bounded
 * undici pool of its own; Workers: `fetch`). A runtime passes these, plus its own (Node: the local model), to
 * `createProviderRegistry`; the core never imports an adapter.
 */
import { createAnthropicAdapter } from '../../providers/anthropic/anthropic-adapter.ts'
import { createOpenAIAdapter } from '../../providers/openai/openai-adapter.ts'
import type { UpstreamTransport } from '../../providers/spec/provider-adapter.ts'
import type { ProviderFactories } from '../core/provider-registry.ts'
import type { ResolvedConfig, ResolvedProvider } from '../core/resolve-config.ts'

export const httpProviderFactories = (
  transportFor: (provider: ResolvedProvider) => UpstreamTransport,
  config: Pick<ResolvedConfig, 'modelApi' | 'reasoningControl'>
): ProviderFactories => {
  // Models OpenAI serves only through its Responses API: Chat Completions and Messages clients reach them converted.
  const responsesOnly = (model: string): boolean => config.modelApi(model) === 'responses'
  const { reasoningControl } = config
  const settings = (provider: ResolvedProvider) => ({
    id: provider.id,
    apiKey: provider.apiKey,
    baseUrl: provider.baseUrl,
    headers: provider.headers,
    transport: transportFor(provider),
  })
  return {
    openai: (provider) =>
      createOpenAIAdapter({
        ...settings(provider),
        compat: provider.compat,
        responsesOnly,
        reasoningControl,
      }),
    'openai-compatible': (provider) =>
      createOpenAIAdapter({
        ...settings(provider),
        compat: provider.compat,
        responsesOnly,
        reasoningControl,
      }),
    anthropic: (provider) => createAnthropicAdapter({ ...settings(provider), reasoningControl }),
  }
}
