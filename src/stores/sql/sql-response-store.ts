/**
 * `ResponseStore` on SQLite or PostgreSQL (`openSqlDatabase`): a `responses` row per response and a `response_items`
 * row per item `item_reference` can name (migration `0003_responses`). Every query compares `tenant_id` (`IS NULL`
 * for the master key) and, for reads, the expiry against the clock. A response and its items are written in one
 * transaction; deleting a response deletes its items (`ON DELETE CASCADE`). `appendOutput` reads the response locked
 * (`FOR UPDATE` on PostgreSQL; SQLite's transactions begin `IMMEDIATE`), so two appends cannot both extend the old
 * output and lose one's items.
 *
 * Background responses (migration `0004_background_usage`): `claimSettlement` is one conditional `UPDATE … WHERE
 * settled_at IS NULL … RETURNING`, which one statement wins however many processes run it (PostgreSQL re-checks the
 * condition on the row it waited for; SQLite has one writer). `takeDuePolls` moves the poll time of the due rows in
 * one `UPDATE` whose subquery picks them (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so a concurrent poller passes over
 * the rows another is taking rather than waiting for them), from the `poll_at` index.
 */
import type { Clock } from '../../core/clock.ts'
import { pageInputItems } from '../page-input-items.ts'
import {
  appendOutputItems,
  responseItemsOf,
  type PendingUsage,
  type ResponseItem,
  type ResponseScope,
  type ResponseStore,
  type StoredResponse,
} from '../response-store.ts'
import {
  validateAppendedOutput,
  validateDuePollQuery,
  validateInputItemsQuery,
  validatePollTime,
  validateResponsePrune,
  validateStoredResponse,
} from '../validate-response-input.ts'
import { conflict } from '../validate-tenant-input.ts'
import { constraintViolation } from './constraint-violation.ts'
import type { SqlDatabase } from './open-sql-database.ts'

/** Item rows per insert: 6 parameters each, far under SQLite's and PostgreSQL's limits. */
const itemInsertChunk = 100
/** Item ids per lookup. */
const itemLookupChunk = 500
/** Responses per delete when `pruneExpired` is given no limit (their items go with them). */
const pruneChunk = 1_000

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const result: T[][] = []
  for (let index = 0; index < items.length; index += size)
    result.push(items.slice(index, index + size))
  return result
}

/** `IS NULL` for the master key: `= NULL` matches nothing. */
const scopeOperator = (scope: ResponseScope): 'is' | '=' => (scope.tenantId === null ? 'is' : '=')

export const createSqlResponseStore = (options: {
  database: SqlDatabase
  clock: Clock
}): ResponseStore => {
  const { db, dialect } = options.database
  const { clock } = options

  return {
    async put(entry, options) {
      validateStoredResponse(entry, options)
      const pending = entry.pendingUsage
      const items = [...responseItemsOf(entry)].map(([itemId, item]) => ({
        response_id: entry.id,
        item_id: itemId,
        tenant_id: entry.tenantId,
        created_at: entry.createdAt,
        expires_at: entry.expiresAt,
        item: JSON.stringify(item),
      }))
      try {
        await db.transaction().execute(async (trx) => {
          await trx
            .insertInto('responses')
            .values({
              id: entry.id,
              tenant_id: entry.tenantId,
              created_at: entry.createdAt,
              expires_at: entry.expiresAt,
              model: entry.model,
              provider: entry.provider,
              response: JSON.stringify(entry.response),
              input: JSON.stringify(entry.input),
              context: JSON.stringify(entry.context),
              pending_usage: pending === undefined ? null : JSON.stringify(pending),
              poll_at: pending === undefined ? null : (options?.pollAt ?? entry.createdAt),
            })
            .execute()
          for (const chunk of chunks(items, itemInsertChunk))
            await trx.insertInto('response_items').values(chunk).execute()
        })
      } catch (error) {
        if (constraintViolation(error) === 'unique')
          throw conflict(`A response with id ${JSON.stringify(entry.id)} is stored already.`, 'id')
        throw error
      }
    },

    async get(id, scope) {
      const now = clock.now()
      const row = await db
        .selectFrom('responses')
        .selectAll()
        .where('id', '=', id)
        .where('tenant_id', scopeOperator(scope), scope.tenantId)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .executeTakeFirst()
      if (row === undefined) return null
      const stored: StoredResponse = {
        id: row.id,
        tenantId: row.tenant_id,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
        model: row.model,
        provider: row.provider,
        response: JSON.parse(row.response) as Record<string, unknown>,
        input: JSON.parse(row.input) as ResponseItem[],
        context: JSON.parse(row.context) as ResponseItem[],
      }
      if (row.pending_usage !== null && row.settled_at === null)
        stored.pendingUsage = JSON.parse(row.pending_usage) as PendingUsage
      return stored
    },

    async delete(id, scope) {
      const now = clock.now()
      const rows = await db
        .deleteFrom('responses')
        .where('id', '=', id)
        .where('tenant_id', scopeOperator(scope), scope.tenantId)
        .returning('expires_at')
        .execute()
      return rows.some((row) => row.expires_at === null || row.expires_at > now)
    },

    async getItems(ids, scope) {
      const now = clock.now()
      const found = new Map<string, ResponseItem>()
      for (const chunk of chunks([...new Set(ids)], itemLookupChunk)) {
        if (chunk.length === 0) continue
        const rows = await db
          .selectFrom('response_items')
          .select(['item_id', 'item'])
          .where('tenant_id', scopeOperator(scope), scope.tenantId)
          .where('item_id', 'in', chunk)
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
          // The preferred copy first: the newest response, then the greater response id.
          .orderBy('item_id')
          .orderBy('created_at', 'desc')
          .orderBy('response_id', 'desc')
          .execute()
        for (const row of rows)
          if (!found.has(row.item_id)) found.set(row.item_id, JSON.parse(row.item) as ResponseItem)
      }
      return found
    },

    async appendOutput(id, scope, added) {
      validateAppendedOutput(added)
      const now = clock.now()
      return db.transaction().execute(async (trx) => {
        const query = trx
          .selectFrom('responses')
          .select(['response', 'created_at', 'expires_at'])
          .where('id', '=', id)
          .where('tenant_id', scopeOperator(scope), scope.tenantId)
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        const row = await (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst()
        if (row === undefined) return false
        const response = JSON.parse(row.response) as Record<string, unknown>
        const appended = appendOutputItems(response, added)
        if (appended.length === 0) return true
        await trx
          .updateTable('responses')
          .set({ response: JSON.stringify(response) })
          .where('id', '=', id)
          .execute()
        const items = appended.map((item) => ({
          response_id: id,
          item_id: item.id as string,
          tenant_id: scope.tenantId,
          created_at: row.created_at,
          expires_at: row.expires_at,
          item: JSON.stringify(item),
        }))
        // An output copy replaces an input copy of the same id (`responseItemsOf`).
        for (const chunk of chunks(items, itemInsertChunk))
          await trx
            .insertInto('response_items')
            .values(chunk)
            .onConflict((conflict) =>
              conflict
                .columns(['response_id', 'item_id'])
                .doUpdateSet((eb) => ({ item: eb.ref('excluded.item') }))
            )
            .execute()
        return true
      })
    },

    async claimSettlement(id, scope) {
      const now = clock.now()
      const row = await db
        .updateTable('responses')
        .set({ settled_at: now, poll_at: null })
        .where('id', '=', id)
        .where('tenant_id', scopeOperator(scope), scope.tenantId)
        .where('pending_usage', 'is not', null)
        .where('settled_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .returning('pending_usage')
        .executeTakeFirst()
      return row?.pending_usage == null ? null : (JSON.parse(row.pending_usage) as PendingUsage)
    },

    async takeDuePolls(query) {
      validateDuePollQuery(query)
      const { now } = query
      const rows = await db
        .updateTable('responses')
        .set({ poll_at: query.leaseUntil })
        .where('id', 'in', (eb) => {
          const due = eb
            .selectFrom('responses')
            .select('id')
            .where('poll_at', '<=', now)
            .where('settled_at', 'is', null)
            .where('created_at', '>=', query.createdSince)
            .where((inner) =>
              inner.or([inner('expires_at', 'is', null), inner('expires_at', '>', now)])
            )
            .orderBy('poll_at')
            .limit(query.limit)
          return dialect === 'postgres' ? due.forUpdate().skipLocked() : due
        })
        // Taken by another caller between the pick and the update (the row it waited for has moved on).
        .where('poll_at', '<=', now)
        .returning(['id', 'tenant_id', 'provider', 'created_at'])
        .execute()
      return rows.map((row) => ({
        id: row.id,
        tenantId: row.tenant_id,
        provider: row.provider,
        createdAt: Number(row.created_at),
      }))
    },

    async schedulePoll(id, at) {
      validatePollTime(at)
      await db
        .updateTable('responses')
        .set({ poll_at: at })
        .where('id', '=', id)
        .where('pending_usage', 'is not', null)
        .where('settled_at', 'is', null)
        .execute()
    },

    async listInputItems(id, scope, query) {
      validateInputItemsQuery(query)
      const now = clock.now()
      const row = await db
        .selectFrom('responses')
        .select('input')
        .where('id', '=', id)
        .where('tenant_id', scopeOperator(scope), scope.tenantId)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .executeTakeFirst()
      return row === undefined
        ? null
        : pageInputItems(JSON.parse(row.input) as ResponseItem[], query)
    },

    async pruneExpired(now, limit) {
      validateResponsePrune(now, limit)
      // `id in (… limit n)`: a slice at a time, read from the expiry index, so no statement holds locks for long.
      const slice = async (size: number): Promise<number> => {
        const result = await db
          .deleteFrom('responses')
          .where('id', 'in', (eb) =>
            eb.selectFrom('responses').select('id').where('expires_at', '<=', now).limit(size)
          )
          .executeTakeFirst()
        return Number(result.numDeletedRows)
      }
      if (limit !== undefined) return slice(limit)
      let total = 0
      for (;;) {
        const deleted = await slice(pruneChunk)
        total += deleted
        if (deleted < pruneChunk) return total
      }
    },
  }
}
