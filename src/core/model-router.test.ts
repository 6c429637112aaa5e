import { describe, it, expect } from 'vitest'
import {
  createFakeAdapter,
  createFakeDeps,
  type FakeDepsOptions,
} from '../../test/helpers/fake-deps.ts'
import { GatewayError } from './errors.ts'
import type { ModelCatalog } from './model-catalog.ts'
import { orderByWeight, resolveTargets } from './model-router.ts'
import { preferShortTarget, shortTargetOf } from './short-requests.ts'
import { seededRandom } from '../../test/helpers/seeded-random.ts'

const staticCatalog = (lists: Record<string, string[]>): ModelCatalog => ({
  list: async () =>
    Object.entries(lists).map(([providerId, ids]) => ({
      providerId,
      models: ids.map((id) => ({ id })),
    })),
  providersOf: async (model) => Object.keys(lists).filter((id) => lists[id].includes(model)),
})

const setup = (options: {
  providers: string[]
  config?: FakeDepsOptions['config']
  catalog?: Record<string, string[]>
}) => {
  const deps = createFakeDeps({
    adapters: options.providers.map((id) =>
      createFakeAdapter({ id, dialect: id === 'anthropic' ? 'anthropic' : 'openai' })
    ),
    config: options.config,
  })
  const catalog = staticCatalog(options.catalog ?? {})
  const resolve = (
    model: string,
    dialect: 'openai' | 'anthropic' = 'openai',
    random?: () => number
  ) =>
    resolveTargets({
      model,
      dialect,
      config: deps.config,
      registry: deps.providers,
      catalog,
      random,
    })
  const names = async (model: string, dialect: 'openai' | 'anthropic' = 'openai') =>
    (await resolve(model, dialect)).map((target) => `${target.provider.config.id}:${target.model}`)
  return { resolve, names }
}

describe('resolveTargets', () => {
  it('routes provider/model to that provider, splitting at the first slash only', async () => {
    const { names } = setup({ providers: ['openai', 'openrouter'] })
    expect(await names('openrouter/meta-llama/llama-3.1-8b')).toEqual([
      'openrouter:meta-llama/llama-3.1-8b',
    ])
    expect(await names('openai/gpt-4o')).toEqual(['openai:gpt-4o'])
  })

  it('prefers an explicit provider prefix over an alias of the same name', async () => {
    const { names } = setup({
      providers: ['openai', 'groq'],
      config: {
        routes: [{ name: 'openai/gpt-4o', targets: [{ provider: 'groq', model: 'llama' }] }],
      },
    })
    expect(await names('openai/gpt-4o')).toEqual(['openai:gpt-4o'])
  })

  it('resolves an alias to its targets in order, before the catalog', async () => {
    const { names } = setup({
      providers: ['openai', 'anthropic'],
      config: {
        routes: [
          {
            name: 'gpt-4o',
            targets: [
              { provider: 'anthropic', model: 'claude-sonnet-4-5' },
              { provider: 'openai', model: 'gpt-4o' },
            ],
          },
        ],
      },
      catalog: { openai: ['gpt-4o'] },
    })
    expect(await names('gpt-4o')).toEqual(['anthropic:claude-sonnet-4-5', 'openai:gpt-4o'])
  })

  it("gives route targets the provider's settings overridden per field by the route's", async () => {
    const { resolve } = setup({
      providers: ['openai'],
      config: {
        providers: {
          openai: { timeouts: { idleMs: 9_000, connectMs: 1_000 }, retry: { maxRetries: 4 } },
        },
        routes: [
          {
            name: 'fast',
            targets: [{ provider: 'openai', model: 'gpt-4o-mini' }],
            timeouts: { idleMs: 3_000 },
            fallbackOn: [429],
          },
        ],
      },
    })
    const [target] = await resolve('fast')
    expect(target.timeouts).toEqual({
      connectMs: 1_000,
      firstByteMs: 300_000,
      idleMs: 3_000,
      totalMs: 580_000,
    })
    expect(target.retry.maxRetries).toBe(4)
    expect(target.fallbackOn).toEqual([429])
    expect(target.routeName).toBe('fast')
    // Merged once per route and provider: the next request gets targets of its own, with the same settings.
    const [again] = await resolve('fast')
    expect(again).not.toBe(target)
    expect(again).toEqual(target)
  })

  it('finds the one provider whose model list has an unprefixed name', async () => {
    const { names } = setup({
      providers: ['openai', 'anthropic'],
      catalog: { openai: ['gpt-4o-mini'], anthropic: ['claude-sonnet-4-5'] },
    })
    expect(await names('claude-sonnet-4-5')).toEqual(['anthropic:claude-sonnet-4-5'])
    expect(await names('gpt-4o-mini', 'anthropic')).toEqual(['openai:gpt-4o-mini'])
  })

  it('answers 400 naming the providers when several list the model', async () => {
    const { resolve } = setup({
      providers: ['openai', 'azure'],
      catalog: { openai: ['gpt-4o'], azure: ['gpt-4o'] },
    })
    const error = await Promise.resolve(resolve('gpt-4o')).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(GatewayError)
    expect(error).toMatchObject({ status: 400, param: 'model' })
    expect((error as Error).message).toContain('openai, azure')
    expect((error as Error).message).toContain('use openai/gpt-4o or azure/gpt-4o')
  })

  it("falls back to the dialect's default provider, then to the only provider", async () => {
    const two = setup({
      providers: ['openai', 'anthropic'],
      config: { defaultProvider: { anthropic: 'anthropic' } },
    })
    expect(await two.names('some-model', 'anthropic')).toEqual(['anthropic:some-model'])
    await expect(two.resolve('some-model', 'openai')).rejects.toMatchObject({
      status: 404,
      openaiCode: 'model_not_found',
    })
    const one = setup({ providers: ['vllm'] })
    expect(await one.names('qwen2.5-7b')).toEqual(['vllm:qwen2.5-7b'])
  })

  it('answers 404 for an unknown provider prefix that nothing else matches, even with one provider', async () => {
    const { resolve, names } = setup({
      providers: ['openai'],
      catalog: { openai: ['meta-llama/llama-3.1-8b'] },
    })
    await expect(resolve('mistral/mistral-large')).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
    })
    expect(await names('meta-llama/llama-3.1-8b')).toEqual(['openai:meta-llama/llama-3.1-8b'])
  })

  it('answers 404 saying why for a provider configured but left out of this runtime (the local model on Workers)', async () => {
    const deps = createFakeDeps({ adapters: [createFakeAdapter({ id: 'openai' })] })
    const config = {
      ...deps.config,
      providers: {
        ...deps.config.providers,
        local: { ...deps.config.providers.openai, id: 'local', type: 'local' as const },
      },
    }
    const failure = await Promise.resolve(
      resolveTargets({
        model: 'local/gatehouse-tiny',
        dialect: 'openai',
        config,
        registry: deps.providers,
        catalog: staticCatalog({}),
      })
    ).catch((error: unknown) => error as GatewayError)
    expect(failure).toMatchObject({ status: 404, param: 'model', openaiCode: 'model_not_found' })
    expect((failure as GatewayError).message).toBe(
      'The model `local/gatehouse-tiny` cannot be served here: provider `local` (type local) does not run in this runtime.'
    )
  })

  it('adds the global fallbacks after the targets of every model without a route of its own, each once', async () => {
    const { names, resolve } = setup({
      providers: ['openai', 'anthropic', 'local'],
      config: {
        fallbacks: [
          { provider: 'local', model: 'tiny' },
          { provider: 'openai', model: 'gpt-4o-mini' },
          { provider: 'workers-lack-it', model: 'x' },
        ],
        defaultProvider: { anthropic: 'anthropic' },
        routes: [{ name: 'fast', targets: [{ provider: 'openai', model: 'gpt-4o' }] }],
      },
      catalog: { anthropic: ['claude-x'] },
    })
    // provider/model, a listed model, the default provider: their target, then the fallbacks.
    expect(await names('openai/gpt-4o')).toEqual([
      'openai:gpt-4o',
      'local:tiny',
      'openai:gpt-4o-mini',
    ])
    expect(await names('claude-x')).toEqual([
      'anthropic:claude-x',
      'local:tiny',
      'openai:gpt-4o-mini',
    ])
    expect(await names('other', 'anthropic')).toEqual([
      'anthropic:other',
      'local:tiny',
      'openai:gpt-4o-mini',
    ])
    // A fallback that is the target itself is not tried twice.
    expect(await names('openai/gpt-4o-mini')).toEqual(['openai:gpt-4o-mini', 'local:tiny'])
    // A route lists its own fallbacks.
    expect(await names('fast')).toEqual(['openai:gpt-4o'])
    const targets = await resolve('openai/gpt-4o')
    expect(targets.map((target) => target.standIn ?? false)).toEqual([false, true, true])
  })

  it('orders weighted targets at random in proportion to their weights, keeping the rest as fallbacks', async () => {
    const { resolve } = setup({
      providers: ['a', 'b', 'c'],
      config: {
        routes: [
          {
            name: 'mix',
            targets: [
              { provider: 'a', model: 'm', weight: 1 },
              { provider: 'b', model: 'm', weight: 3 },
              { provider: 'c', model: 'm', weight: 6 },
            ],
          },
        ],
      },
    })
    const random = seededRandom(42)
    const firsts: Record<string, number> = { a: 0, b: 0, c: 0 }
    const runs = 4_000
    const complete = new Set<string>()
    for (let run = 0; run < runs; run += 1) {
      const ids = (await resolve('mix', 'openai', random)).map(
        (target) => target.provider.config.id
      )
      complete.add([...ids].sort().join(','))
      firsts[ids[0]] += 1
    }
    expect([...complete]).toEqual(['a,b,c'])
    expect(firsts.a / runs).toBeCloseTo(0.1, 1)
    expect(firsts.b / runs).toBeCloseTo(0.3, 1)
    expect(firsts.c / runs).toBeCloseTo(0.6, 1)
  })
})

describe('preferShortTarget', () => {
  const deps = createFakeDeps({
    adapters: ['openai', 'local'].map((id) => createFakeAdapter({ id, dialect: 'openai' })),
    config: {
      routes: [
        {
          name: 'chat',
          targets: [
            { provider: 'openai', model: 'gpt-4o-mini' },
            { provider: 'local', model: 'tiny' },
          ],
          shortRequests: {
            provider: 'local',
            model: 'tiny',
            maxInputTokens: 100,
            maxOutputTokens: 50,
          },
        },
        {
          name: 'nowhere',
          targets: [{ provider: 'openai', model: 'gpt-4o' }],
          shortRequests: { provider: 'absent', model: 'x', maxInputTokens: 1, maxOutputTokens: 1 },
        },
      ],
    },
  })
  const route = async (model: string) => {
    const targets = await resolveTargets({
      model,
      dialect: 'openai',
      config: deps.config,
      registry: deps.providers,
      catalog: staticCatalog({}),
    })
    return { name: model, targets, short: shortTargetOf(model, deps.config, deps.providers) }
  }
  const order = (value: {
    targets: readonly { provider: { config: { id: string } }; model: string }[]
  }) => value.targets.map((target) => `${target.provider.config.id}:${target.model}`)

  it('puts the short target first for a request within both bounds, the route’s others after it, once', async () => {
    const chat = await route('chat')
    let estimated = 0
    const request = (maxOutputTokens: number | null, input: number) => ({
      maxOutputTokens,
      estimateInputTokens: () => {
        estimated += 1
        return input
      },
    })
    expect(order(preferShortTarget(chat, request(50, 100)))).toEqual([
      'local:tiny',
      'openai:gpt-4o-mini',
    ])
    expect(preferShortTarget(chat, request(50, 100)).name).toBe('chat')
    expect(order(preferShortTarget(chat, request(51, 10)))).toEqual([
      'openai:gpt-4o-mini',
      'local:tiny',
    ])
    expect(order(preferShortTarget(chat, request(10, 101)))).toEqual([
      'openai:gpt-4o-mini',
      'local:tiny',
    ])
    // No bound on the output: not short, and the input is not even estimated.
    const before = estimated
    expect(order(preferShortTarget(chat, request(null, 1)))).toEqual([
      'openai:gpt-4o-mini',
      'local:tiny',
    ])
    expect(estimated).toBe(before)
  })

  it('has no short target where the route sets none, or its provider is not in this runtime', async () => {
    expect((await route('nowhere')).short).toBeUndefined()
    expect(shortTargetOf('openai/gpt-4o', deps.config, deps.providers)).toBeUndefined()
  })
})

describe('orderByWeight', () => {
  it('draws without replacement and puts unweighted items last, in order', () => {
    const items = [{ id: 'x' }, { id: 'a', weight: 1 }, { id: 'y' }, { id: 'b', weight: 1 }]
    expect(orderByWeight(items, () => 0.99).map((item) => item.id)).toEqual(['b', 'a', 'x', 'y'])
    expect(orderByWeight(items, () => 0).map((item) => item.id)).toEqual(['a', 'b', 'x', 'y'])
  })
})
