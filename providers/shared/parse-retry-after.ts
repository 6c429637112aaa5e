import type { HeaderReader } from '../spec/provider-adapter.ts'

/**
 * Reads how long an upstream asks us to wait: `retry-after-ms` (float milliseconds, OpenAI) wins over `retry-after`
 * (seconds or an HTTP date). `null` when absent or unreadable. Same rules as the official SDKs (wire-notes §5).
 */
export const parseRetryAfter = (headers: HeaderReader, now: number = Date.now()): number | null => {
  const milliseconds = headers.get('retry-after-ms')
  if (milliseconds !== null) {
    const value = Number.parseFloat(milliseconds)
    if (Number.isFinite(value) && value >= 0) return Math.ceil(value)
  }
  const header = headers.get('retry-after')
  if (header === null) return null
  const seconds = Number(header.trim())
  if (header.trim() !== '' && Number.isFinite(seconds))
    return seconds >= 0 ? Math.ceil(seconds * 1000) : null
  const date = Date.parse(header)
  if (Number.isNaN(date)) return null
  return Math.max(0, date - now)
}
