/**
 * A JSON column's value as read: SQLite keeps JSON as text, and `pg` parses a `jsonb` column before Kysely sees it.
 * The dialect, not the value's type, decides whether to parse: a `jsonb` string value is a string, not JSON text.
 */
import type { SqlDialectName } from './open-sql-database.ts'

export const readJsonColumn = (value: unknown, dialect: SqlDialectName): unknown => {
  if (value === null || value === undefined) return null
  if (dialect === 'postgres') return value
  if (typeof value !== 'string')
    throw new TypeError(`a SQLite JSON column held ${typeof value}, not text`)
  return JSON.parse(value)
}
