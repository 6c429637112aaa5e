/**
 * Durations as people type them on a command line or in a query string: `90s`, `15m`, `12h`, `7d`, `2w`. One
 * whole number and one unit, nothing else: `1.5d` or `1d12h` are refused rather than guessed at. Shared by the usage
 * API (`from=7d`: seven days ago) and the CLI (`--expires 30d`, `--grace 1d`).
 */

const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

const shape = /^(\d{1,9})([smhdw])$/

/** The duration's milliseconds, or `null` when `text` is not one. */
export const parseDuration = (text: string): number | null => {
  const match = shape.exec(text.trim())
  if (match === null) return null
  return Number(match[1]) * unitMs[match[2] as keyof typeof unitMs]
}

export const durationHelp = 'a whole number and a unit: s, m, h, d or w (`30d`, `12h`)'
