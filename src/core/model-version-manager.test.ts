/**
 * The model version manager over fake providers and a store in memory, as two gateway processes on one database see
 * it: names resolve to one provider's model or are refused, an activation is made before it is kept (a refusal keeps
 * nothing), a store that fails says the choice serves on this process only, and what one process keeps the other
 * applies once (never undoing its own activation with what it read before), restores at start, and resets.
 */
import { describe, expect, it } from 'vitest'
import type { ModelVersionControl, ModelVersionState } from '../../providers/spec/model-versions.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { createRecordingLogger } from '../../test/helpers/fake-deps.ts'
import type { ModelVersionStore, StoredActivation } from '../stores/model-version-store.ts'
import { GatewayError } from './errors.ts'
import { createModelVersionManager } from './model-version-manager.ts'
import type { ProviderRegistry } from './provider-registry.ts'

/** A provider's version control over models whose versions are `available` (each model's highest by default). */
const fakeControl = (models: Record<string, string[]>) => {
  const state = new Map<string, ModelVersionState>(
    Object.entries(models).map(([model, available]) => [
      model,
      { model, active: available.at(-1)!, source: 'default', available, draining: [] },
    ])
  )
  const activations: [string, string | null][] = []
  let restored: Readonly<Record<string, string>> = {}
  const control: ModelVersionControl = {
    list: () => [...state.values()],
    restore: (activations) => void (restored = activations),
    async activate(model, version) {
      activations.push([model, version])
      const current = state.get(model)!
      if (version !== null && !current.available.includes(version))
        throw new ProviderError({
          kind: 'http',
          status: 404,
          message: `no version ${version}`,
          param: 'version',
          code: 'model_version_not_found',
        })
      const next: ModelVersionState = {
        ...current,
        active: version ?? current.available.at(-1)!,
        source: version === null ? 'default' : 'activation',
      }
      state.set(model, next)
      return next
    },
  }
  return { control, activations, restored: () => restored }
}

const registryOf = (
  controls: Record<string, ModelVersionControl | undefined>
): ProviderRegistry => {
  const entries = Object.entries(controls).map(([id, modelVersions]) => ({
    config: { id },
    adapter: { id, forwards: [], modelVersions },
  }))
  const registry = {
    list: () => entries,
    get: (id: string) => entries.find((entry) => entry.config.id === id),
  }
  // Only what the manager reads: the adapters' version controls.
  return registry as unknown as ProviderRegistry
}

/** One database for every process: what `set` and `remove` do, `fail` makes the next write throw. */
const sharedStore = () => {
  const rows = new Map<string, StoredActivation>()
  let failNext = false
  const store: ModelVersionStore = {
    list: async () => [...rows.values()],
    async set(activation) {
      if (failNext) {
        failNext = false
        throw new Error('database away')
      }
      rows.set(`${activation.provider}/${activation.model}`, activation)
    },
    remove: async (provider, model) => void rows.delete(`${provider}/${model}`),
  }
  return { store, rows, fail: () => void (failNext = true) }
}

const caught = async (promise: Promise<unknown>): Promise<GatewayError> => {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason
  )
  expect(error).toBeInstanceOf(GatewayError)
  return error as GatewayError
}

/** A gateway process: its own providers (`local`, `local-gpu`, one HTTP provider), the shared store. */
const gatewayProcess = (store: ModelVersionStore) => {
  const local = fakeControl({ tiny: ['1', '2', '3'], embed: ['1'] })
  const gpu = fakeControl({ tiny: ['1'] })
  const logger = createRecordingLogger()
  const manager = createModelVersionManager({
    providers: registryOf({ local: local.control, 'local-gpu': gpu.control, openai: undefined }),
    store,
    clock: createFakeClock(Date.UTC(2026, 5, 1)),
    logger,
  })
  return { manager, local, gpu, logger }
}

describe('createModelVersionManager', () => {
  it('names models provider/model, or by name where one provider serves it, and refuses the others', async () => {
    const { manager } = gatewayProcess(sharedStore().store)
    expect(manager.list().map((entry) => [entry.id, entry.active, entry.source])).toEqual([
      ['local/tiny', '3', 'default'],
      ['local/embed', '1', 'default'],
      ['local-gpu/tiny', '1', 'default'],
    ])
    expect(await manager.activate('embed', '1')).toMatchObject({
      id: 'local/embed',
      provider: 'local',
    })
    const ambiguous = await caught(manager.activate('tiny', '1'))
    expect(ambiguous).toMatchObject({ status: 400, param: 'model' })
    expect(ambiguous.message).toBe(
      '`tiny` is served by several providers: name one of `local/tiny`, `local-gpu/tiny`.'
    )
    const unknown = await caught(manager.activate('openai/gpt-4o', '1'))
    expect(unknown).toMatchObject({ status: 404, openaiCode: 'model_not_found' })
    expect(unknown.message).toBe(
      'No model `openai/gpt-4o` runs in this gateway with versions (models: local/tiny, local/embed, local-gpu/tiny).'
    )
  })

  it('keeps an activation only once the provider made it, and says when the database did not keep it', async () => {
    const shared = sharedStore()
    const { manager } = gatewayProcess(shared.store)
    const refused = await caught(manager.activate('local/tiny', '9'))
    expect(refused).toMatchObject({
      status: 404,
      param: 'version',
      openaiCode: 'model_version_not_found',
    })
    expect(shared.rows.size).toBe(0)

    expect(await manager.activate('local/tiny', '2')).toMatchObject({
      active: '2',
      source: 'activation',
    })
    expect([...shared.rows.values()]).toEqual([
      { provider: 'local', model: 'tiny', version: '2', activatedAt: Date.UTC(2026, 5, 1) },
    ])
    shared.fail()
    const unkept = await caught(manager.activate('local/tiny', '1'))
    expect(unkept.status).toBe(503)
    expect(unkept.message).toMatch(
      /^Version 1 of `local\/tiny` serves on the gateway process that answered, but the database did not keep it/
    )
    expect(manager.list()[0]).toMatchObject({ active: '1' })

    expect(await manager.reset('local/tiny')).toMatchObject({ active: '3', source: 'default' })
    expect(shared.rows.size).toBe(0)
  })

  it('applies what another process kept, once, and never undoes its own activation with an older read', async () => {
    const shared = sharedStore()
    const first = gatewayProcess(shared.store)
    const second = gatewayProcess(shared.store)
    await Promise.all([first.manager.restore(), second.manager.restore()])

    // A sync queued behind this process's own activation reads the store after it was kept.
    await Promise.all([first.manager.activate('local/tiny', '2'), first.manager.sync()])
    expect(first.local.activations).toEqual([['tiny', '2']])

    await second.manager.sync()
    await second.manager.sync()
    expect(second.local.activations).toEqual([['tiny', '2']])
    expect(second.manager.list()[0]).toMatchObject({ active: '2', source: 'activation' })

    await first.manager.reset('local/tiny')
    await second.manager.sync()
    expect(second.local.activations).toEqual([
      ['tiny', '2'],
      ['tiny', null],
    ])

    // A version this process cannot serve is logged once, not tried at every sync.
    await shared.store.set({ provider: 'local', model: 'tiny', version: '7', activatedAt: 0 })
    await second.manager.sync()
    await second.manager.sync()
    expect(second.local.activations.at(-1)).toEqual(['tiny', '7'])
    expect(second.local.activations).toHaveLength(3)
    expect(second.logger.lines.map((line) => line.message)).toContain(
      'model versions: a version another gateway process activated cannot serve here; this process keeps its version'
    )
  })

  it('hands each provider the activations kept for it before it starts', async () => {
    const shared = sharedStore()
    await shared.store.set({ provider: 'local', model: 'tiny', version: '2', activatedAt: 0 })
    await shared.store.set({ provider: 'local-gpu', model: 'tiny', version: '1', activatedAt: 0 })
    const { manager, local, gpu } = gatewayProcess(shared.store)
    await manager.restore()
    expect(local.restored()).toEqual({ tiny: '2' })
    expect(gpu.restored()).toEqual({ tiny: '1' })
    // What it restored is what it knows: a sync does not apply it again.
    await manager.sync()
    expect(local.activations).toEqual([])
  })
})
