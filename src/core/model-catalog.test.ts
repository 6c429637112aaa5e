import { describe, it, expect } from 'vitest'
import type { AbortHandle, ModelInfo } from '../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import {
  createFakeAdapter,
  createFakeDeps,
  type FakeDepsOptions,
} from '../../test/helpers/fake-deps.ts'
import { flushPromises } from '../../test/helpers/fake-clock.ts'
import { createModelCatalog } from './model-catalog.ts'

type ListModels = (signal: AbortHandle) => Promise<ModelInfo[]>

const setup = (options: {
  lists: Record<string, ListModels | null>
  config?: FakeDepsOptions['config']
}) => {
  const adapters = Object.entries(options.lists).map(([id, list]) =>
    createFakeAdapter({ id, ...(list ? { listModels: (context) => list(context.signal) } : {}) })
  )
  const deps = createFakeDeps({ adapters, config: options.config })
  const catalog = createModelCatalog({
    registry: deps.providers,
    clock: deps.clock,
    logger: deps.logger,
    ttlMs: 600_000,
  })
  const fetches = (id: string) => adapters.find((adapter) => adapter.id === id)!.calls.length
  return { deps, catalog, fetches, clock: deps.clock }
}

const ids = (...names: string[]): ModelInfo[] => names.map((id) => ({ id }))

describe('createModelCatalog', () => {
  it("lists each provider's discovered models plus its configured ones", async () => {
    const { catalog } = setup({
      lists: { openai: async () => [{ id: 'gpt-4o', ownedBy: 'openai' }], local: null },
      config: {
        providers: {
          openai: { models: ['gpt-4o', 'ft:gpt-4o:acme'] },
          local: { models: ['qwen'] },
        },
      },
    })
    expect(await catalog.list()).toEqual([
      {
        providerId: 'openai',
        models: [{ id: 'gpt-4o', ownedBy: 'openai' }, { id: 'ft:gpt-4o:acme' }],
      },
      { providerId: 'local', models: [{ id: 'qwen' }] },
    ])
    expect(await catalog.providersOf('qwen')).toEqual(['local'])
    expect(await catalog.providersOf('nope')).toEqual([])
  })

  it('answers providersOf without a promise once every list is known and indexed, until one is refreshed', async () => {
    let version = 1
    const { catalog, clock } = setup({
      lists: { openai: async () => ids(`model-v${version}`) },
    })
    // The first call waits for the list; the next ones are a lookup, with no promise on the request path.
    expect(catalog.providersOf('model-v1')).toBeInstanceOf(Promise)
    expect(await catalog.providersOf('model-v1')).toEqual(['openai'])
    expect(catalog.providersOf('model-v1')).toEqual(['openai'])
    expect(catalog.providersOf('unknown')).toEqual([])
    // A refresh that changed the list is indexed again before the next answer, through a promise.
    version = 2
    await clock.advance(600_000)
    await catalog.providersOf('model-v2')
    await flushPromises()
    expect(await catalog.providersOf('model-v2')).toEqual(['openai'])
    expect(catalog.providersOf('model-v2')).toEqual(['openai'])
  })

  it('does not call the models endpoint when discovery is off', async () => {
    const { catalog, fetches } = setup({
      lists: { openai: async () => ids('gpt-4o') },
      config: { providers: { openai: { discoverModels: false, models: ['only-this'] } } },
    })
    expect(await catalog.list()).toEqual([{ providerId: 'openai', models: [{ id: 'only-this' }] }])
    expect(fetches('openai')).toBe(0)
  })

  it('caches lists for ttlMs, then fetches again', async () => {
    let version = 1
    const { catalog, fetches, clock } = setup({
      lists: { openai: async () => ids(`model-v${version}`) },
    })
    expect(await catalog.providersOf('model-v1')).toEqual(['openai'])
    version = 2
    await clock.advance(599_999)
    expect(await catalog.providersOf('model-v1')).toEqual(['openai'])
    expect(fetches('openai')).toBe(1)
    await clock.advance(1)
    // Stale while revalidating: this call answers from the old list and starts the refresh.
    await catalog.providersOf('model-v2')
    await flushPromises()
    expect(await catalog.providersOf('model-v2')).toEqual(['openai'])
    expect(fetches('openai')).toBe(2)
  })

  it('answers from the stale list while a refresh is in flight, so no request waits for it', async () => {
    let release: (models: ModelInfo[]) => void = () => {}
    let calls = 0
    const { catalog, clock } = setup({
      lists: {
        openai: () => {
          calls += 1
          return calls === 1
            ? Promise.resolve(ids('model-v1'))
            : new Promise<ModelInfo[]>((resolve) => (release = resolve))
        },
      },
    })
    expect(await catalog.providersOf('model-v1')).toEqual(['openai'])
    await clock.advance(600_000)
    expect(await catalog.providersOf('model-v1')).toEqual(['openai'])
    expect(calls).toBe(2)
    release(ids('model-v2'))
    await clock.advance(0)
    expect(await catalog.providersOf('model-v2')).toEqual(['openai'])
    expect(await catalog.providersOf('model-v1')).toEqual([])
  })

  it('keeps the stale list and logs a warning when a refresh fails; never throws', async () => {
    let fail = false
    const { catalog, clock, deps } = setup({
      lists: {
        openai: async () => {
          if (fail) throw new ProviderError({ kind: 'http', status: 500, message: 'down' })
          return ids('gpt-4o')
        },
        broken: async () => {
          throw new Error('unexpected')
        },
      },
    })
    expect(await catalog.providersOf('gpt-4o')).toEqual(['openai'])
    fail = true
    await clock.advance(600_000)
    expect(await catalog.list()).toEqual([
      { providerId: 'openai', models: ids('gpt-4o') },
      { providerId: 'broken', models: [] },
    ])
    const warnings = deps.logger.lines.filter((line) => line.level === 'warn')
    expect(warnings.map((line) => line.fields)).toContainEqual({
      provider: 'openai',
      kind: 'http',
      status: 500,
      stale: true,
    })
    expect(warnings.map((line) => line.fields.provider)).toContain('broken')
  })

  it('does not hammer a failing models endpoint on every call', async () => {
    const { catalog, fetches, clock } = setup({
      lists: {
        openai: async () => {
          throw new ProviderError({ kind: 'connection', status: 502, message: 'refused' })
        },
      },
    })
    await catalog.list()
    await catalog.list()
    expect(fetches('openai')).toBe(1)
    await clock.advance(30_000)
    await catalog.list()
    expect(fetches('openai')).toBe(2)
  })

  it('shares one in-flight fetch between concurrent calls', async () => {
    let release: (models: ModelInfo[]) => void = () => {}
    const { catalog, fetches } = setup({
      lists: { openai: () => new Promise<ModelInfo[]>((resolve) => (release = resolve)) },
    })
    const first = catalog.providersOf('gpt-4o')
    const second = catalog.list()
    await Promise.resolve()
    release(ids('gpt-4o'))
    expect(await first).toEqual(['openai'])
    expect(await second).toEqual([{ providerId: 'openai', models: ids('gpt-4o') }])
    expect(fetches('openai')).toBe(1)
  })

  it('gives up on a models endpoint after 5 s and aborts its request', async () => {
    let signal: AbortHandle | undefined
    const { catalog, clock } = setup({
      lists: {
        slow: (received) => {
          signal = received
          return new Promise<ModelInfo[]>(() => {})
        },
      },
      config: { providers: { slow: { models: ['configured'] } } },
    })
    const listed = catalog.list()
    await expect(clock.settle(listed)).resolves.toEqual([
      { providerId: 'slow', models: ids('configured') },
    ])
    expect(clock.now() - Date.UTC(2026, 0, 1)).toBe(5_000)
    expect(signal?.aborted).toBe(true)
    expect(clock.pendingTimers()).toBe(0)
  })
})
