/**
 * Which version of each local model serves, and the switch to another while the gateway serves. At start each model
 * serves the version an activation kept from an earlier run chose (`restore`), else the one the config pins
 * (`versions`), else its highest version folder. An activation reads and checks the new version's folder, starts a
 * new set of workers holding it (and the provider's other models, as they are: each worker holds every model), and
 * only once that set has loaded sends new calls to it; the set it replaces finishes the calls it holds, then closes
 * (`local-model-set.ts`). A version that is not there, whose folder is broken or that fails to load is refused, and
 * the version serving goes on serving. Activations run one at a time, in the order they came.
 *
 * While a switch runs, the machine holds both sets: twice the provider's worker threads and models in memory, until
 * the last call on the old set ends.
 */
import type {
  ModelVersionControl,
  ModelVersionState,
  VersionSource,
} from '../spec/model-versions.ts'
import {
  findLocalModels,
  findLocalModelVersion,
  listLocalModelVersions,
  type LocalModel,
} from './find-local-models.ts'
import {
  localInvalidRequest,
  localModelNotFound,
  localUnavailable,
  localVersionNotFound,
} from './local-errors.ts'
import {
  startLocalModelSet,
  type LocalModelSet,
  type LocalModelSetOptions,
} from './local-model-set.ts'
import type { LocalProviderLog } from './local-worker-pool.ts'
import type { LocalModelDtype } from './read-model-folder.ts'

export type LocalModelHostSettings = {
  /** Provider instance id, for messages and the log. */
  id: string
  /** Absolute. */
  directory: string
  /** `null`: every model under `directory`. */
  models: readonly string[] | null
  /** The config's pins: the version folder to serve of each model named (default: its highest). */
  versions: Readonly<Record<string, string>>
  workers: number
  intraOpNumThreads: number
  /** Generations one worker runs together (`LocalWorkerData.maxBatch`). */
  maxBatch: number
  streamIntervalMs: number
  /** The weights a model runs unless `dtypes` names it. */
  dtype: LocalModelDtype
  dtypes: Readonly<Record<string, LocalModelDtype>>
  spawn?: LocalModelSetOptions['spawn']
  log: LocalProviderLog
}

export type LocalModelHost = {
  /** Finds, checks and loads the models; rejects with every problem, one per line. */
  start(): Promise<void>
  /** The set new calls go to; throws a 503 before `start` and after `close`. */
  serving(): LocalModelSet
  /** The set serving, or `null` before `start` and after `close`. */
  current(): LocalModelSet | null
  readonly versions: ModelVersionControl
  /** Closes every set, the ones still finishing calls included. */
  close(): Promise<void>
}

export const createLocalModelHost = (settings: LocalModelHostSettings): LocalModelHost => {
  const { id, directory, log } = settings
  const dtypeOf = (name: string): LocalModelDtype => settings.dtypes[name] ?? settings.dtype
  let serving: LocalModelSet | null = null
  let closed = false
  const draining = new Set<LocalModelSet>()
  const sources = new Map<string, VersionSource>()
  let restored: Readonly<Record<string, string>> = {}
  /** The end of the last activation asked for: the next one starts after it. */
  let queue: Promise<unknown> = Promise.resolve()

  const startSet = (models: readonly LocalModel[]): Promise<LocalModelSet> =>
    startLocalModelSet({
      models,
      workers: settings.workers,
      intraOpNumThreads: settings.intraOpNumThreads,
      maxBatch: settings.maxBatch,
      streamIntervalMs: settings.streamIntervalMs,
      spawn: settings.spawn,
      log,
    })

  const serve = (): LocalModelSet => {
    if (serving === null)
      throw localUnavailable(
        closed
          ? 'The local model provider is shut down.'
          : 'The local model provider is not started.'
      )
    return serving
  }

  const stateOf = (model: LocalModel): ModelVersionState => {
    const others = new Set<string>()
    for (const set of draining) {
      const version = set.models.get(model.name)?.version
      if (version != null && version !== model.version) others.add(version)
    }
    return {
      model: model.name,
      active: model.version,
      source: sources.get(model.name) ?? 'default',
      available: listLocalModelVersions(directory, model.name),
      draining: [...others],
    }
  }

  /** The activations kept from an earlier run that can still apply; the others are logged and dropped. */
  const applicableRestored = (): Record<string, string> => {
    const applicable: Record<string, string> = {}
    for (const [name, version] of Object.entries(restored)) {
      const named = settings.models === null || settings.models.includes(name)
      if (named && listLocalModelVersions(directory, name).includes(version))
        applicable[name] = version
      else
        log.warn(
          {
            provider: id,
            model: name,
            version,
            fallback: settings.versions[name] ?? 'the highest version',
          },
          'an activation kept from an earlier run names a model version that is not there: serving the one the config pins, else the highest'
        )
    }
    return applicable
  }

  const switchTo = async (name: string, asked: string | null): Promise<ModelVersionState> => {
    const current = serve()
    const model = current.models.get(name)
    if (model === undefined) throw localModelNotFound(`${id}/${name}`, [...current.models.keys()])
    const source: VersionSource =
      asked !== null ? 'activation' : settings.versions[name] !== undefined ? 'config' : 'default'
    const version = asked ?? settings.versions[name] ?? null
    const available = listLocalModelVersions(directory, name)
    if (version !== null && !available.includes(version))
      throw localVersionNotFound(`${id}/${name}`, version, available)
    let next: LocalModel
    try {
      next = findLocalModelVersion({ directory, name, version, dtype: dtypeOf(name) })
    } catch (error) {
      throw localInvalidRequest(
        `Version ${version ?? 'highest'} of \`${id}/${name}\` cannot be served: ${(error as Error).message}. Version ${model.version} goes on serving.`,
        'version'
      )
    }
    if (next.folder === model.folder) {
      sources.set(name, source)
      return stateOf(model)
    }
    const startedAt = performance.now()
    let loaded: LocalModelSet
    try {
      loaded = await startSet(
        [...current.models.values()].map((each) => (each === model ? next : each))
      )
    } catch (error) {
      log.error(
        { provider: id, model: name, version: next.version, detail: (error as Error).message },
        'local model version failed to load; the version serving goes on serving'
      )
      throw localInvalidRequest(
        `Version ${next.version} of \`${id}/${name}\` failed to load: ${(error as Error).message}. Version ${model.version} goes on serving.`,
        'version'
      )
    }
    if (closed) {
      await loaded.close()
      throw localUnavailable('The local model provider is shut down.')
    }
    serving = loaded
    sources.set(name, source)
    draining.add(current)
    log.info(
      {
        provider: id,
        model: name,
        from: model.version,
        to: next.version,
        source,
        loadMs: Math.round(performance.now() - startedAt),
        callsFinishingOnPrevious: current.holds(),
      },
      'local model version activated'
    )
    void current.retire().then(
      () => {
        draining.delete(current)
        log.info(
          { provider: id, model: name, version: model.version },
          'local model version released: its last call ended'
        )
      },
      (error: unknown) => {
        draining.delete(current)
        log.error(
          { provider: id, model: name, version: model.version, err: error },
          'local model version: closing its workers failed'
        )
      }
    )
    return stateOf(next)
  }

  const versions: ModelVersionControl = {
    list: () => (serving === null ? [] : [...serving.models.values()].map(stateOf)),
    restore(activations) {
      restored = { ...activations }
    },
    activate(name, version) {
      const run = queue.then(() => switchTo(name, version))
      queue = run.catch(() => {})
      return run
    },
  }

  return {
    async start() {
      const kept = applicableRestored()
      const found = findLocalModels({
        directory,
        names: settings.models,
        dtype: settings.dtype,
        dtypes: settings.dtypes,
        versions: { ...settings.versions, ...kept },
      })
      for (const model of found)
        sources.set(
          model.name,
          kept[model.name] !== undefined
            ? 'activation'
            : settings.versions[model.name] !== undefined
              ? 'config'
              : 'default'
        )
      serving = await startSet(found)
    },
    serving: serve,
    current: () => serving,
    versions,
    async close() {
      closed = true
      const sets = [...(serving === null ? [] : [serving]), ...draining]
      serving = null
      await Promise.all(sets.map((set) => set.close()))
    },
  }
}
