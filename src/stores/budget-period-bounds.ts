/**
 * The UTC calendar period a budget counts in at a given time. Budget stores key their counters by `key` (a new period
 * starts from a fresh counter, seeded from the usage store's spend since `start`), and the usage store sums what was
 * spent in `[start, now)`: both derive the bounds here, so they agree on where a period begins.
 */
export type BudgetPeriod = 'day' | 'week' | 'month' | 'total'

export type BudgetPeriodBounds = {
  period: BudgetPeriod
  /** Names the period in store keys: `day:2026-01-31`, `week:2026-01-26` (its Monday), `month:2026-01`, `total`. */
  key: string
  /** Epoch ms of its first instant; `null` for `total` (since the beginning). */
  start: number | null
  /** Epoch ms of the first instant after it; `null` for `total` (it never ends). */
  end: number | null
}

const dayMs = 86_400_000

const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** The last bounds computed per kind: every request with a budget asks, and the answer changes once a period. */
const latest = new Map<BudgetPeriod, BudgetPeriodBounds>()

/** The period of kind `period` that contains `now` (epoch ms). Weeks run Monday to Sunday (ISO 8601). */
export const budgetPeriodBounds = (period: BudgetPeriod, now: number): BudgetPeriodBounds => {
  const known = latest.get(period)
  if (known !== undefined && (known.start ?? -Infinity) <= now && now < (known.end ?? Infinity))
    return known
  const bounds = computeBounds(period, now)
  latest.set(period, bounds)
  return bounds
}

const computeBounds = (period: BudgetPeriod, now: number): BudgetPeriodBounds => {
  const date = new Date(now)
  const year = date.getUTCFullYear()
  const month = date.getUTCMonth()
  const dayStart = Date.UTC(year, month, date.getUTCDate())
  switch (period) {
    case 'day':
      return { period, key: `day:${isoDate(dayStart)}`, start: dayStart, end: dayStart + dayMs }
    case 'week': {
      const start = dayStart - ((date.getUTCDay() + 6) % 7) * dayMs
      return { period, key: `week:${isoDate(start)}`, start, end: start + 7 * dayMs }
    }
    case 'month': {
      const start = Date.UTC(year, month, 1)
      return {
        period,
        key: `month:${isoDate(start).slice(0, 7)}`,
        start,
        end: Date.UTC(year, month + 1, 1),
      }
    }
    case 'total':
      return { period, key: 'total', start: null, end: null }
  }
}
