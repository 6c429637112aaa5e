import { durationHelp, parseDuration } from '../../core/parse-duration.ts'
import { invalidRequest } from '../../core/errors.ts'

const isoDate = /^\d{4}-\d{2}-\d{2}$/
/** A date and time with a zone (`Z` or `±hh:mm`): without one, the server's zone would decide what it means. */
const isoDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i

/** Whether the text's `YYYY-MM-DD` is a day of its month: `Date.parse` reads `2026-02-30` as March 2nd. */
const isCalendarDate = (text: string): boolean => {
  const [year, month, day] = text.slice(0, 10).split('-').map(Number)
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

/**
 * A point in time as the usage API takes it: an ISO 8601 time with its zone (`2026-03-01T00:00:00Z`), a UTC date
 * (`2026-03-01`: its midnight), `now`, or a duration back from now (`7d`, `12h`). Epoch ms, or a 400 naming `param`.
 */
export const parseUsageTime = (text: string, now: number, param: string): number => {
  const trimmed = text.trim()
  if (trimmed === 'now') return now
  const ago = parseDuration(trimmed)
  if (ago !== null) return now - ago
  if ((isoDate.test(trimmed) || isoDateTime.test(trimmed)) && isCalendarDate(trimmed)) {
    const time = Date.parse(isoDate.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed)
    if (!Number.isNaN(time)) return time
  }
  throw invalidRequest(
    `${param}: ${JSON.stringify(text)} is not a time: use an ISO 8601 time with its zone (2026-03-01T00:00:00Z), a UTC date (2026-03-01), \`now\`, or a duration back from now, ${durationHelp}.`,
    param
  )
}
