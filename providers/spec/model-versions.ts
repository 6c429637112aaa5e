/**
 * Model versions, for a provider that runs its models itself (the local model): each model is a folder of version
 * folders (`<name>/<version>/`), one version serves new calls at a time, and an operator switches it while the gateway
 * serves (`ProviderAdapter.modelVersions`, reached through the admin API's `/admin/v1/models`). A switch loads the new
 * version before any call goes to it, and the calls already running on the old one finish there.
 */

/** Why a model's active version is the one it is. */
export type VersionSource =
  /** Nothing chose one: the highest version folder (or the model's only, unversioned, folder). */
  | 'default'
  /** The provider's config pins it (`versions` of a `local` provider). */
  | 'config'
  /** An activation chose it (the admin API, `gatehouse models activate`), over the config and the default. */
  | 'activation'

export type ModelVersionState = {
  /** As clients name it after the provider id (`gatehouse-tiny` in `local/gatehouse-tiny`). */
  model: string
  /** The version new calls go to; `null` for a model folder with no version folders. */
  active: string | null
  source: VersionSource
  /** The version folders on disk now, lowest first (empty for an unversioned folder). */
  available: string[]
  /** Versions an activation replaced that still finish calls they started; released when the last one ends. */
  draining: string[]
}

export interface ModelVersionControl {
  /** Every model the provider serves, as it is now (the version folders read from disk). */
  list(): ModelVersionState[]
  /**
   * Before `start`: the activations kept from an earlier run, by model, over the config's pins. A model or version
   * that is no longer there is left out, with a warning in the log, and the model serves as if none was kept.
   */
  restore(activations: Readonly<Record<string, string>>): void
  /**
   * Serves `version` of `model` (`null`: the one the config pins, else the highest; the activation is forgotten):
   * loads it first, then sends new calls to it, while the calls already running finish on the version they started
   * on, whose resources are released after the last one. Activations run one at a time, in order. Throws a
   * `ProviderError`: 404 for a model or version that is not there, 503 for a version that fails to load (the
   * version serving keeps serving). Activating the active version again changes only its `source`.
   */
  activate(model: string, version: string | null): Promise<ModelVersionState>
}
