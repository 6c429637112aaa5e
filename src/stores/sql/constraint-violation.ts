/**
 * Which constraint a failed write broke, in either dialect, so a store can answer "that name is taken" rather than
 * pass a driver error on. PostgreSQL reports SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html);
 * better-sqlite3 reports SQLite's extended result codes by name (https://www.sqlite.org/rescode.html).
 */
export type ConstraintViolation = 'unique' | 'foreign-key'

export const constraintViolation = (error: unknown): ConstraintViolation | null => {
  const code = (error as { code?: unknown } | null)?.code
  switch (code) {
    case '23505':
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
      return 'unique'
    case '23503':
    case 'SQLITE_CONSTRAINT_FOREIGNKEY':
      return 'foreign-key'
    default:
      return null
  }
}
