/**
 * The model versions of the providers that run their models themselves (the local model), as the admin API and
 * `gatehouse models` see them: which version of each model serves, the activation of another, and the reset to the
 * config's pin or the highest version. A model is named `provider/model`, or by its name alone when one provider
 * serves it.
 *
 * An activation is made on this process's provider first (it loads the version, or refuses it, and the version serving
 * goes on serving), and only then kept in the store (`stores/model-version-store.ts`): a restart restores it
 * (`restore`, before the providers start), and the other gateway processes on the same database apply it as they find
 * it there (`sync`, which the runtime calls every few seconds). Each process applies a change it finds once; one that
 * fails to load there is logged, and that process keeps its version. Without a store (Workers, which has no local
 * model anyway) activations last as long as the process.
 *
 * Activations, resets and syncs run one at a time, in the order they came, so a sync that read the store before an
 * activation was kept never undoes it.
 */
import type { ModelVersionControl, ModelVersionState } from '../../providers/spec/model-versions.ts'
import { isProviderError } from '../../providers/spec/provider-error.ts'
import type { ModelVersionStore, StoredActivation } from '../stores/model-version-store.ts'
import type { Clock } from './clock.ts'
import { GatewayError, type GatewayErrorCode } from './errors.ts'
import type { Logger } from './logger.ts'
import type { ProviderRegistry } from './provider-registry.ts'

export type ModelVersionEntry = ModelVersionState & {
  /** `provider/model`, as clients name it. */
  id: string
  provider: string
}

export type ModelVersionManager = {
  /** Every model with versions, as this process serves it. */
  list(): ModelVersionEntry[]
  /** Serves `version` of `model` on this process, then keeps the choice; throws a `GatewayError`. */
  activate(model: string, version: string): Promise<ModelVersionEntry>
  /** Serves the config's pin or the highest version of `model` again, and forgets the activation kept. */
  reset(model: string): Promise<ModelVersionEntry>
  /** Before the providers start: hands each the activations kept for it. */
  restore(): Promise<void>
  /** Applies the activations and resets other processes kept since the last look. */
  sync(): Promise<void>
}

const keyOf = (provider: string, model: string): string => `${provider}/${model}`

const codeForStatus = (status: number): GatewayErrorCode =>
  status === 404
    ? 'not_found'
    : status === 503
      ? 'unavailable'
      : status < 500
        ? 'invalid_request'
        : 'internal'

/** A provider's refusal as the admin API answers it: its message, status, field and code. */
const asGatewayError = (error: unknown): unknown =>
  isProviderError(error)
    ? new GatewayError(codeForStatus(error.status), error.message, {
        status: error.status,
        param: error.param,
        openaiCode: error.code,
        cause: error,
      })
    : error

export const createModelVersionManager = (options: {
  providers: ProviderRegistry
  store: ModelVersionStore | undefined
  clock: Clock
  logger: Logger
}): ModelVersionManager => {
  const { providers, store, clock, logger } = options
  /** What this process last took from the store, by `provider/model`: the version kept, `null` for none. */
  const seen = new Map<string, string | null>()
  let queue: Promise<unknown> = Promise.resolve()

  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work)
    queue = run.catch(() => {})
    return run
  }

  const controls = (): { provider: string; control: ModelVersionControl }[] =>
    providers
      .list()
      .flatMap((entry) =>
        entry.adapter.modelVersions === undefined
          ? []
          : [{ provider: entry.config.id, control: entry.adapter.modelVersions }]
      )

  const entryOf = (provider: string, state: ModelVersionState): ModelVersionEntry => ({
    id: keyOf(provider, state.model),
    provider,
    ...state,
  })

  const list = (): ModelVersionEntry[] =>
    controls().flatMap(({ provider, control }) =>
      control.list().map((state) => entryOf(provider, state))
    )

  /** The provider and model `name` means (`provider/model`, or a name one provider serves); throws 404 or 400. */
  const resolve = (
    name: string
  ): { provider: string; control: ModelVersionControl; model: string } => {
    const all = controls()
    const candidates = all.flatMap(({ provider, control }) =>
      control
        .list()
        .filter(
          (state) =>
            keyOf(provider, state.model) === name || (!name.includes('/') && state.model === name)
        )
        .map((state) => ({ provider, control, model: state.model }))
    )
    if (candidates.length === 1) return candidates[0]
    if (candidates.length > 1)
      throw new GatewayError(
        'invalid_request',
        `\`${name}\` is served by several providers: name one of ${candidates.map((each) => `\`${keyOf(each.provider, each.model)}\``).join(', ')}.`,
        { param: 'model' }
      )
    const known = all.flatMap(({ provider, control }) =>
      control.list().map((state) => keyOf(provider, state.model))
    )
    throw new GatewayError(
      'not_found',
      `No model \`${name}\` runs in this gateway with versions (${known.length === 0 ? 'no local model provider is configured' : `models: ${known.join(', ')}`}).`,
      { param: 'model', openaiCode: 'model_not_found' }
    )
  }

  const apply = async (
    control: ModelVersionControl,
    model: string,
    version: string | null
  ): Promise<ModelVersionState> => {
    try {
      return await control.activate(model, version)
    } catch (error) {
      throw asGatewayError(error)
    }
  }

  /** Keeps (or forgets) the choice; a store that fails leaves the choice made on this process only, and says so. */
  const keep = async (write: () => Promise<void>, what: string): Promise<void> => {
    if (store === undefined) return
    try {
      await write()
    } catch (error) {
      logger.error({ err: error }, 'model versions: keeping an activation failed')
      throw new GatewayError(
        'unavailable',
        `${what} on the gateway process that answered, but the database did not keep it: the other processes do not follow, and a restart forgets it. Retry once the database answers.`,
        { cause: error }
      )
    }
  }

  const readStore = async (): Promise<StoredActivation[]> =>
    store === undefined ? [] : store.list()

  return {
    list,

    activate: (name, version) =>
      inTurn(async () => {
        const { provider, control, model } = resolve(name)
        const state = await apply(control, model, version)
        await keep(
          () => store!.set({ provider, model, version, activatedAt: clock.now() }),
          `Version ${version} of \`${keyOf(provider, model)}\` serves`
        )
        seen.set(keyOf(provider, model), version)
        return entryOf(provider, state)
      }),

    reset: (name) =>
      inTurn(async () => {
        const { provider, control, model } = resolve(name)
        const state = await apply(control, model, null)
        await keep(
          () => store!.remove(provider, model),
          `Version ${state.active} of \`${keyOf(provider, model)}\` serves again`
        )
        seen.set(keyOf(provider, model), null)
        return entryOf(provider, state)
      }),

    async restore() {
      const kept = await readStore()
      for (const { provider, control } of controls()) {
        const mine = kept.filter((activation) => activation.provider === provider)
        control.restore(
          Object.fromEntries(mine.map((activation) => [activation.model, activation.version]))
        )
      }
      for (const activation of kept)
        seen.set(keyOf(activation.provider, activation.model), activation.version)
    },

    sync: () =>
      inTurn(async () => {
        const kept = new Map(
          (await readStore()).map((activation) => [
            keyOf(activation.provider, activation.model),
            activation.version,
          ])
        )
        for (const { provider, control } of controls()) {
          for (const state of control.list()) {
            const key = keyOf(provider, state.model)
            const version = kept.get(key) ?? null
            if ((seen.get(key) ?? null) === version) continue
            seen.set(key, version)
            if (version === null && state.source !== 'activation') continue
            if (version !== null && state.active === version && state.source === 'activation')
              continue
            try {
              await control.activate(state.model, version)
              logger.info(
                { model: key, version: version ?? 'config or highest' },
                'model versions: applied a change another gateway process made'
              )
            } catch (error) {
              logger.error(
                { model: key, version, detail: (error as Error).message },
                'model versions: a version another gateway process activated cannot serve here; this process keeps its version'
              )
            }
          }
        }
      }),
  }
}
