/**
 * `TenantStore` on SQLite or PostgreSQL (`openSqlDatabase`). Every write that touches more than one row runs in one
 * transaction, so a failure (a hash already taken, an unknown tenant) leaves nothing behind. A lookup by hash is one
 * query over the secret, its key and its tenant.
 */
import type { InferResult, Selectable, Transaction } from 'kysely'
import type { Clock } from '../../core/clock.ts'
import { GatewayError, invalidRequest } from '../../core/errors.ts'
import { equalInConstantTime } from '../../core/hash-api-key.ts'
import type {
  AccessSettings,
  AccessSettingsInput,
  ApiKeyRecord,
  BudgetPeriod,
  CreateKeyInput,
  KeyLookup,
  Limits,
  TenantRecord,
  TenantStore,
  UpdateKeyInput,
  UpdateTenantInput,
} from '../tenant-store.ts'
import {
  conflict,
  validateAccessSettings,
  validateExpiresAt,
  validateKeyHash,
  validateKeyName,
  validateTenantName,
} from '../validate-tenant-input.ts'
import { isStorableText } from '../storable-text.ts'
import { constraintViolation } from './constraint-violation.ts'
import type { SqlDatabase, SqlDialectName } from './open-sql-database.ts'
import { readJsonColumn } from './read-json-column.ts'
import type { ApiKeysTable, SqlSchema, TenantsTable } from './sql-schema.ts'

type TenantRow = Selectable<TenantsTable>
type KeyRow = Selectable<ApiKeysTable>
type AccessRow = Pick<
  TenantRow,
  | 'allowed_models'
  | 'rpm'
  | 'tpm'
  | 'concurrency'
  | 'budget_micro_usd'
  | 'budget_period'
  | 'metadata'
>

const noLimits: Limits = { rpm: null, tpm: null, concurrency: null }

const newId = (prefix: string): string => `${prefix}_${crypto.randomUUID().replaceAll('-', '')}`

/** The access columns to write for `settings` (every column: callers merge a patch first). */
const accessColumns = (settings: AccessSettings) => ({
  allowed_models: settings.allowedModels === null ? null : JSON.stringify(settings.allowedModels),
  rpm: settings.limits.rpm,
  tpm: settings.limits.tpm,
  concurrency: settings.limits.concurrency,
  budget_micro_usd: settings.budget?.microUsd ?? null,
  budget_period: settings.budget?.period ?? null,
  metadata: JSON.stringify(settings.metadata),
})

const readAccess = (row: AccessRow, dialect: SqlDialectName): AccessSettings => ({
  allowedModels: readJsonColumn(row.allowed_models, dialect) as string[] | null,
  limits: { rpm: row.rpm, tpm: row.tpm, concurrency: row.concurrency },
  budget:
    row.budget_micro_usd === null
      ? null
      : { microUsd: row.budget_micro_usd, period: row.budget_period as BudgetPeriod },
  metadata: readJsonColumn(row.metadata, dialect) as Record<string, string>,
})

const readTenant = (row: TenantRow, dialect: SqlDialectName): TenantRecord => ({
  id: row.id,
  name: row.name,
  ...readAccess(row, dialect),
  disabledAt: row.disabled_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
})

const readKey = (row: KeyRow, dialect: SqlDialectName): ApiKeyRecord => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  displayPrefix: row.display_prefix,
  ...readAccess(row, dialect),
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
})

/** `current` with `patch` applied: absent fields keep their value, limits merge one by one. */
const mergeAccess = (current: AccessSettings, patch: AccessSettingsInput): AccessSettings => ({
  allowedModels: patch.allowedModels === undefined ? current.allowedModels : patch.allowedModels,
  limits: { ...current.limits, ...definedOnly(patch.limits ?? {}) },
  budget: patch.budget === undefined ? current.budget : patch.budget,
  metadata: patch.metadata ?? current.metadata,
})

const definedOnly = <T extends object>(value: T): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>

const initialAccess = (input: AccessSettingsInput): AccessSettings =>
  mergeAccess({ allowedModels: null, limits: noLimits, budget: null, metadata: {} }, input)

/** The tenant and secret columns of a lookup by hash, aliased so they do not clash with the key's. */
const tenantColumns = [
  't.id as t_id',
  't.name as t_name',
  't.allowed_models as t_allowed_models',
  't.rpm as t_rpm',
  't.tpm as t_tpm',
  't.concurrency as t_concurrency',
  't.budget_micro_usd as t_budget_micro_usd',
  't.budget_period as t_budget_period',
  't.metadata as t_metadata',
  't.disabled_at as t_disabled_at',
  't.created_at as t_created_at',
  't.updated_at as t_updated_at',
  's.hash as s_hash',
  's.display_prefix as s_display_prefix',
  's.created_at as s_created_at',
  's.expires_at as s_expires_at',
] as const

export const createSqlTenantStore = (options: {
  database: SqlDatabase
  clock: Clock
}): TenantStore => {
  const { db, dialect } = options.database
  const { clock } = options

  /**
   * Reads the row a transaction is about to change, locked against other writers until it commits, so two updates
   * cannot both merge onto the same old row and lose one's change. PostgreSQL: `FOR UPDATE`. SQLite has no row
   * locks and needs none: its transactions begin `IMMEDIATE`, holding the database's write lock.
   */
  const lockTenant = async (
    trx: Transaction<SqlSchema>,
    id: string
  ): Promise<TenantRow | undefined> => {
    if (!isStorableText(id)) return undefined
    const query = trx.selectFrom('tenants').selectAll().where('id', '=', id)
    return (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst()
  }

  const lockKey = async (trx: Transaction<SqlSchema>, id: string): Promise<KeyRow | undefined> => {
    if (!isStorableText(id)) return undefined
    const query = trx.selectFrom('api_keys').selectAll().where('id', '=', id)
    return (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst()
  }

  /**
   * The lookup every authentication makes, built and compiled once: Kysely's builder and compiler cost more than
   * the indexed query itself on SQLite.
   */
  const keyByHashQuery = db
    .selectFrom('api_key_secrets as s')
    .innerJoin('api_keys as k', 'k.id', 's.key_id')
    .innerJoin('tenants as t', 't.id', 'k.tenant_id')
    .selectAll('k')
    .select(tenantColumns)
    .where('s.hash', '=', '')
  type KeyByHashRow = InferResult<typeof keyByHashQuery>[number]
  const keyByHash = keyByHashQuery.compile()

  /** Runs `write`, turning a unique violation into a 409 that names `param`. */
  const unique = async <T>(write: Promise<T>, message: string, param: string): Promise<T> => {
    try {
      return await write
    } catch (error) {
      if (constraintViolation(error) === 'unique') throw conflict(message, param)
      throw error
    }
  }

  /** Adds the key's current secret (no expiry); a hash taken already is a 409. */
  const insertSecret = async (
    trx: Transaction<SqlSchema>,
    keyId: string,
    secret: { hash: string; displayPrefix: string },
    now: number
  ): Promise<void> => {
    await unique(
      trx
        .insertInto('api_key_secrets')
        .values({
          hash: secret.hash,
          key_id: keyId,
          display_prefix: secret.displayPrefix,
          created_at: now,
          expires_at: null,
        })
        .execute(),
      'A key with this hash exists already.',
      'hash'
    )
  }

  const setTenantDisabled = async (id: string, disabled: boolean): Promise<TenantRecord | null> => {
    if (!isStorableText(id)) return null
    const now = clock.now()
    const row = await db
      .updateTable('tenants')
      .set((eb) => ({
        disabled_at: disabled ? eb.fn.coalesce('disabled_at', eb.val(now)) : null,
        updated_at: now,
      }))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst()
    return row === undefined ? null : readTenant(row, dialect)
  }

  return {
    async createTenant(input) {
      validateTenantName(input.name)
      validateAccessSettings(input)
      const now = clock.now()
      const id = input.id ?? newId('ten')
      try {
        const row = await db
          .insertInto('tenants')
          .values({
            id,
            name: input.name,
            ...accessColumns(initialAccess(input)),
            disabled_at: null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow()
        return readTenant(row, dialect)
      } catch (error) {
        if (constraintViolation(error) !== 'unique') throw error
        if ((await this.getTenantByName(input.name)) !== null)
          throw conflict(`A tenant named ${JSON.stringify(input.name)} exists already.`, 'name')
        throw conflict(`A tenant with id ${JSON.stringify(id)} exists already.`, 'id')
      }
    },

    async getTenant(id) {
      if (!isStorableText(id)) return null
      const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst()
      return row === undefined ? null : readTenant(row, dialect)
    },

    async getTenantByName(name) {
      if (!isStorableText(name)) return null
      const row = await db
        .selectFrom('tenants')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst()
      return row === undefined ? null : readTenant(row, dialect)
    },

    async listTenants(listOptions = {}) {
      let query = db.selectFrom('tenants').selectAll()
      if (!listOptions.includeDisabled) query = query.where('disabled_at', 'is', null)
      const rows = await query.orderBy('name').execute()
      return rows.map((row) => readTenant(row, dialect))
    },

    async updateTenant(id, patch: UpdateTenantInput) {
      if (patch.name !== undefined) validateTenantName(patch.name)
      validateAccessSettings(patch)
      return db.transaction().execute(async (trx) => {
        const current = await lockTenant(trx, id)
        if (current === undefined) return null
        const access = mergeAccess(readAccess(current, dialect), patch)
        const row = await unique(
          trx
            .updateTable('tenants')
            .set({
              name: patch.name ?? current.name,
              ...accessColumns(access),
              updated_at: clock.now(),
            })
            .where('id', '=', id)
            .returningAll()
            .executeTakeFirstOrThrow(),
          `A tenant named ${JSON.stringify(patch.name)} exists already.`,
          'name'
        )
        return readTenant(row, dialect)
      })
    },

    disableTenant: (id) => setTenantDisabled(id, true),
    enableTenant: (id) => setTenantDisabled(id, false),

    async createKey(input: CreateKeyInput) {
      validateKeyName(input.name)
      validateKeyHash(input.hash)
      validateAccessSettings(input)
      const now = clock.now()
      validateExpiresAt(input.expiresAt, now)
      const id = input.id ?? newId('key')
      return db.transaction().execute(async (trx) => {
        const tenant = await lockTenant(trx, input.tenantId)
        if (tenant === undefined)
          throw new GatewayError(
            'not_found',
            `No tenant has id ${JSON.stringify(input.tenantId)}.`,
            {
              param: 'tenantId',
            }
          )
        if (tenant.disabled_at !== null)
          throw invalidRequest(`The tenant ${tenant.name} is disabled.`, 'tenantId')
        const row = await unique(
          trx
            .insertInto('api_keys')
            .values({
              id,
              tenant_id: input.tenantId,
              name: input.name,
              display_prefix: input.displayPrefix,
              ...accessColumns(initialAccess(input)),
              expires_at: input.expiresAt ?? null,
              revoked_at: null,
              created_at: now,
              updated_at: now,
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
          `A key with id ${JSON.stringify(id)} exists already.`,
          'id'
        )
        await insertSecret(trx, id, input, now)
        return readKey(row, dialect)
      })
    },

    async getKey(id) {
      if (!isStorableText(id)) return null
      const row = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst()
      return row === undefined ? null : readKey(row, dialect)
    },

    async getKeyByHash(hash): Promise<KeyLookup | null> {
      const { rows } = await db.executeQuery<KeyByHashRow>({ ...keyByHash, parameters: [hash] })
      const row = rows[0]
      // The index found the row by equality; the comparison that decides is the constant-time one.
      if (row === undefined || !equalInConstantTime(row.s_hash, hash)) return null
      return {
        key: readKey(row, dialect),
        tenant: readTenant(
          {
            id: row.t_id,
            name: row.t_name,
            allowed_models: row.t_allowed_models,
            rpm: row.t_rpm,
            tpm: row.t_tpm,
            concurrency: row.t_concurrency,
            budget_micro_usd: row.t_budget_micro_usd,
            budget_period: row.t_budget_period,
            metadata: row.t_metadata,
            disabled_at: row.t_disabled_at,
            created_at: row.t_created_at,
            updated_at: row.t_updated_at,
          },
          dialect
        ),
        secret: {
          displayPrefix: row.s_display_prefix,
          createdAt: row.s_created_at,
          expiresAt: row.s_expires_at,
        },
      }
    },

    async listKeys(tenantId, listOptions = {}) {
      if (tenantId !== null && !isStorableText(tenantId)) return []
      let query = db.selectFrom('api_keys').selectAll()
      if (tenantId !== null) query = query.where('tenant_id', '=', tenantId)
      if (!listOptions.includeRevoked) query = query.where('revoked_at', 'is', null)
      const rows = await query.orderBy('created_at').orderBy('id').execute()
      return rows.map((row) => readKey(row, dialect))
    },

    async updateKey(id, patch: UpdateKeyInput) {
      if (patch.name !== undefined) validateKeyName(patch.name)
      validateAccessSettings(patch)
      const now = clock.now()
      validateExpiresAt(patch.expiresAt, now)
      return db.transaction().execute(async (trx) => {
        const current = await lockKey(trx, id)
        if (current === undefined) return null
        const access = mergeAccess(readAccess(current, dialect), patch)
        const row = await trx
          .updateTable('api_keys')
          .set({
            name: patch.name ?? current.name,
            ...accessColumns(access),
            expires_at: patch.expiresAt === undefined ? current.expires_at : patch.expiresAt,
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow()
        return readKey(row, dialect)
      })
    },

    async revokeKey(id) {
      if (!isStorableText(id)) return null
      const now = clock.now()
      const row = await db
        .updateTable('api_keys')
        .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(now)), updated_at: now }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst()
      return row === undefined ? null : readKey(row, dialect)
    },

    async rotateKey(id, input) {
      validateKeyHash(input.hash)
      if (!Number.isSafeInteger(input.graceUntil))
        throw invalidRequest('graceUntil is epoch milliseconds, a whole number.', 'graceUntil')
      const now = clock.now()
      return db.transaction().execute(async (trx) => {
        const current = await lockKey(trx, id)
        if (current === undefined) return null
        if (current.revoked_at !== null)
          throw invalidRequest('A revoked key cannot be rotated.', 'id')
        // Its new secret would be refused from the start, like the old ones: an expiry is changed first.
        if (current.expires_at !== null && current.expires_at <= now)
          throw invalidRequest(
            `The key expired at ${new Date(current.expires_at).toISOString()}: a new secret would be refused too. Change its expires_at first.`,
            'id'
          )
        // Secrets past their grace period authenticate nothing: they go.
        await trx
          .deleteFrom('api_key_secrets')
          .where('key_id', '=', id)
          .where('expires_at', '<=', now)
          .execute()
        await trx
          .updateTable('api_key_secrets')
          .set({ expires_at: input.graceUntil })
          .where('key_id', '=', id)
          .where((eb) =>
            eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', input.graceUntil)])
          )
          .execute()
        await insertSecret(trx, id, input, now)
        const row = await trx
          .updateTable('api_keys')
          .set({ display_prefix: input.displayPrefix, updated_at: now })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow()
        return readKey(row, dialect)
      })
    },
  }
}
