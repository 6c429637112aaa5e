/**
 * Whether a driver error says the database cannot be reached or will not serve now, rather than that a query is
 * wrong: the connection refused, reset, timed out or ended, the server shutting down or refusing this role, too many
 * connections (PostgreSQL's SQLSTATE classes 08, 28, 53 and 57P; https://www.postgresql.org/docs/current/errcodes-appendix.html),
 * pg-pool's own connection timeout, and SQLite's busy, locked, I/O and full-disk results. Such a failure is the
 * store's outage, told to clients as a 503 they may retry (`on-error.ts`), not the gateway's internal error.
 */
const connectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
])

/** pg and pg-pool errors without a code. */
const connectionMessages =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end)/

export const isDatabaseUnavailable = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    // SQLite's extended codes name their primary one first (`SQLITE_IOERR_WRITE`).
    if (connectionCodes.has(code) || connectionCodes.has(code.split('_', 2).join('_'))) return true
    // SQLSTATE: connection exception, invalid authorization, insufficient resources, operator intervention.
    if (/^(08|28|53)[0-9A-Z]{3}$/.test(code) || /^57P0[1-3]$/.test(code)) return true
  }
  return connectionMessages.test(error.message)
}
