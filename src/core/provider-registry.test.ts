import { describe, expect, it } from 'vitest'
import type { GatewayConfig } from '../../config/config-schema.ts'
import { createFakeAdapter } from '../../test/helpers/fake-deps.ts'
import { createProviderRegistry, type ProviderFactories } from './provider-registry.ts'
import { resolveConfig, type ResolvedProvider } from './resolve-config.ts'

const providers = resolveConfig({
  routes: [],
  providers: {
    openai: { type: 'openai', apiKey: 'sk-a' },
    groq: {
      type: 'openai-compatible',
      apiKey: 'gsk-b',
      baseUrl: 'https://api.groq.com/openai/v1/',
    },
    anthropic: { type: 'anthropic', apiKey: 'sk-ant-c' },
  },
} as GatewayConfig).providers

describe('createProviderRegistry', () => {
  it('builds each instance with the factory of its type, from its resolved config', () => {
    const seen: ResolvedProvider[] = []
    const factory = (provider: ResolvedProvider) => {
      seen.push(provider)
      return createFakeAdapter({ id: provider.id })
    }
    const built = createProviderRegistry({
      providers,
      factories: { openai: factory, 'openai-compatible': factory, anthropic: factory },
      runtimeName: 'Node',
    })
    if (!built.ok) throw new Error(built.errors.join())
    expect(built.registry.list().map((entry) => [entry.config.id, entry.adapter.id])).toEqual([
      ['openai', 'openai'],
      ['groq', 'groq'],
      ['anthropic', 'anthropic'],
    ])
    expect(seen.find((provider) => provider.id === 'groq')).toMatchObject({
      apiKey: 'gsk-b',
      baseUrl: 'https://api.groq.com/openai/v1',
    })
    expect(built.registry.get('anthropic')?.config.type).toBe('anthropic')
  })

  it('refuses to start on a runtime that has no factory for a configured type, naming each provider', () => {
    const factories: ProviderFactories = {
      openai: (provider) => createFakeAdapter({ id: provider.id }),
    }
    const built = createProviderRegistry({ providers, factories, runtimeName: 'Workers' })
    expect(built).toEqual({
      ok: false,
      errors: [
        'providers.groq: a provider of type openai-compatible cannot run on Workers',
        'providers.anthropic: a provider of type anthropic cannot run on Workers',
      ],
    })
  })

  it('leaves out the providers of a type the runtime says runs elsewhere, and names them', () => {
    const withLocal = resolveConfig({
      routes: [],
      providers: { openai: { type: 'openai', apiKey: 'sk-a' }, local: { type: 'local' } },
    } as GatewayConfig).providers
    const factories: ProviderFactories = {
      openai: (provider) => createFakeAdapter({ id: provider.id }),
    }
    const built = createProviderRegistry({
      providers: withLocal,
      factories,
      runtimeName: 'Workers',
      elsewhere: ['local'],
    })
    if (!built.ok) throw new Error(built.errors.join())
    expect(built.registry.list().map((entry) => entry.config.id)).toEqual(['openai'])
    expect(built.registry.get('local')).toBeUndefined()
    expect(built.leftOut).toEqual([{ id: 'local', type: 'local' }])
    // Without saying so, a type with no factory is still a start-up error.
    expect(
      createProviderRegistry({ providers: withLocal, factories, runtimeName: 'Workers' })
    ).toEqual({
      ok: false,
      errors: ['providers.local: a provider of type local cannot run on Workers'],
    })
  })

  it('closes every adapter, and reports the ones that failed instead of throwing', async () => {
    const closed: string[] = []
    const factory = (provider: ResolvedProvider) => {
      const adapter = createFakeAdapter({ id: provider.id })
      adapter.close = async () => {
        if (provider.id === 'groq') throw new Error('pool stuck')
        closed.push(provider.id)
      }
      return adapter
    }
    const built = createProviderRegistry({
      providers,
      factories: { openai: factory, 'openai-compatible': factory, anthropic: factory },
      runtimeName: 'Node',
    })
    if (!built.ok) throw new Error(built.errors.join())
    const { failed } = await built.registry.close()
    expect(closed.sort()).toEqual(['anthropic', 'openai'])
    expect(failed).toEqual([{ provider: 'groq', error: new Error('pool stuck') }])
  })
})
