/**
 * The options tenants and keys share on the command line (`--rpm`, `--tpm`, `--concurrency`, `--budget-usd`,
 * `--budget-period`, `--models`, `--metadata`) and the admin API body they become. Only what is given is sent, so
 * `update` changes just that. `none` removes a limit or the budget; `--models all` allows every model again.
 *
 * Values are checked only as far as JSON needs: a number must be a number (`Number('ten')` is `NaN`, which JSON
 * writes as `null`, which would remove the limit). Whether it is a valid limit is the gateway's call, and its answer
 * names the field.
 */
import { usageError } from './cli-error.ts'

export const accessOptionSpecs = {
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  concurrency: { type: 'string' },
  'budget-usd': { type: 'string' },
  'budget-period': { type: 'string' },
  models: { type: 'string', multiple: true },
  metadata: { type: 'string', multiple: true },
} as const

/** The admin API's fields for the options above (`AdminRequest.options`). */
export const accessFieldOptions = {
  'limits.rpm': '--rpm',
  'limits.tpm': '--tpm',
  'limits.concurrency': '--concurrency',
  limits: 'the limits (--rpm, --tpm, --concurrency)',
  'budget.usd': '--budget-usd',
  'budget.period': '--budget-period',
  budget: '--budget-usd',
  allowed_models: '--models',
  metadata: '--metadata',
} as const

export type AccessOptionValues = {
  rpm?: string
  tpm?: string
  concurrency?: string
  'budget-usd'?: string
  'budget-period'?: string
  models?: string[]
  metadata?: string[]
}

export const accessOptionsHelp = [
  '  --rpm N | none            requests per minute',
  '  --tpm N | none            tokens per minute',
  '  --concurrency N | none    requests in flight',
  '  --budget-usd X | none     budget in USD, with --budget-period day | week | month | total',
  "  --models 'openai/*,...'   allowed model patterns (repeatable; `all`: every model)",
  '  --metadata key=value      a label (repeatable)',
]

/**
 * A number as a person writes one: decimal digits, a sign, a fraction, an exponent. `Number` alone also reads `0x10`
 * as 16, `0b11` as 3 and `Infinity`, none of which anyone means by a limit.
 */
const decimalNumber = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

export const readNumber = (value: string, option: string, group: string): number => {
  const number = Number(value)
  if (!decimalNumber.test(value.trim()) || !Number.isFinite(number))
    throw usageError(`--${option}: ${JSON.stringify(value)} is not a number`, group)
  return number
}

const readLimit = (value: string, option: string, group: string): number | null =>
  value === 'none' ? null : readNumber(value, option, group)

export const accessBody = (values: AccessOptionValues, group: string): Record<string, unknown> => {
  const body: Record<string, unknown> = {}
  const limits: Record<string, number | null> = {}
  for (const name of ['rpm', 'tpm', 'concurrency'] as const) {
    const value = values[name]
    if (value !== undefined) limits[name] = readLimit(value, name, group)
  }
  if (Object.keys(limits).length > 0) body.limits = limits

  const usd = values['budget-usd']
  const period = values['budget-period']
  if (usd === 'none') {
    if (period !== undefined) throw usageError('--budget-usd none takes no --budget-period', group)
    body.budget = null
  } else if (usd !== undefined || period !== undefined) {
    // Not a number is the first thing to say of `--budget-usd ten`, with or without its period.
    if (usd !== undefined) readNumber(usd, 'budget-usd', group)
    if (usd === undefined || period === undefined)
      throw usageError(
        '--budget-usd and --budget-period go together (period: day, week, month or total)',
        group
      )
    body.budget = { usd: readNumber(usd, 'budget-usd', group), period }
  }

  if (values.models !== undefined) {
    const patterns = values.models.flatMap((item) => item.split(',')).map((item) => item.trim())
    body.allowed_models =
      patterns.length === 1 && patterns[0] === 'all' ? null : patterns.filter((item) => item !== '')
  }

  if (values.metadata !== undefined) {
    const metadata: Record<string, string> = {}
    for (const item of values.metadata) {
      const equals = item.indexOf('=')
      if (equals <= 0) throw usageError(`--metadata ${item}: write it as key=value`, group)
      metadata[item.slice(0, equals)] = item.slice(equals + 1)
    }
    body.metadata = metadata
  }
  return body
}
