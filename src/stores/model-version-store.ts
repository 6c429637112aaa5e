/**
 * The model versions an operator activated (`POST /admin/v1/models/{model}/activate`, `gatehouse models activate`),
 * kept in the gateway's database so that an activation outlives a restart and reaches every gateway process that
 * shares the database (`serve --workers N`, several instances on one PostgreSQL), which apply it as they learn of it
 * (`src/core/model-version-manager.ts`). One activation per model of a provider: a new one replaces it, a reset
 * (back to the config's pin or the highest version) removes it.
 *
 * `test/contract/model-version-store.test.ts` runs every backend through the same cases.
 */

export type StoredActivation = {
  /** Provider instance id (`local`). */
  provider: string
  /** As clients name it after the provider id. */
  model: string
  /** The version folder's name. */
  version: string
  /** Epoch milliseconds. */
  activatedAt: number
}

export interface ModelVersionStore {
  /** Every activation kept, by provider then model. */
  list(): Promise<StoredActivation[]>
  /** Keeps `activation`, in place of the one kept for its provider's model. */
  set(activation: StoredActivation): Promise<void>
  /** Forgets the activation kept for `model` of `provider`; none kept: nothing happens. */
  remove(provider: string, model: string): Promise<void>
}
