/**
 * `ModelVersionStore` on SQLite or PostgreSQL (`openSqlDatabase`): one `model_activations` row per (provider, model),
 * written with an upsert, so two processes activating the same model leave the last write (migration
 * `0006_model_activations`).
 */
import type { ModelVersionStore } from '../model-version-store.ts'
import type { SqlDatabase } from './open-sql-database.ts'

export const createSqlModelVersionStore = (options: {
  database: SqlDatabase
}): ModelVersionStore => {
  const { db } = options.database
  return {
    async list() {
      const rows = await db
        .selectFrom('model_activations')
        .selectAll()
        .orderBy('provider')
        .orderBy('model')
        .execute()
      return rows.map((row) => ({
        provider: row.provider,
        model: row.model,
        version: row.version,
        activatedAt: Number(row.activated_at),
      }))
    },

    async set(activation) {
      await db
        .insertInto('model_activations')
        .values({
          provider: activation.provider,
          model: activation.model,
          version: activation.version,
          activated_at: activation.activatedAt,
        })
        .onConflict((conflict) =>
          conflict.columns(['provider', 'model']).doUpdateSet({
            version: activation.version,
            activated_at: activation.activatedAt,
          })
        )
        .execute()
    },

    async remove(provider, model) {
      await db
        .deleteFrom('model_activations')
        .where('provider', '=', provider)
        .where('model', '=', model)
        .execute()
    },
  }
}
