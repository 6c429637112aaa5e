/**
 * `gatehouse usage`: `GET /admin/v1/usage` from a terminal. `--by` takes the dimensions (tenant, key, model,
 * provider, user) and, mixed in, `day` or `hour` for the time buckets. `--json` and `--csv` print the gateway's answer
 * as it is, so their field names are the API's; the table shows the main columns, with the cost in USD, and, when the
 * prompt cache was on for some of the requests (a hit or a miss in some row), its hits and what they saved in USD, and,
 * when some requests' figures are the gateway's estimate, how many and how much of the cost they make up.
 */
import type { CliContext } from './cli-context.ts'
import { usageError } from './cli-error.ts'
import { formatTable, type TableCell } from './format-table.ts'
import { parseCommandLine } from './parse-command-line.ts'

const group = 'usage'

type UsageAnswer = {
  from: string
  to: string
  granularity: string | null
  data: Record<string, string | number | null>[]
}

const dimensionFields = ['bucket_start', 'tenant_id', 'key_id', 'model', 'provider', 'user_id']
const shownMetrics = ['requests', 'errors', 'input_tokens', 'output_tokens', 'cached_tokens']
/** The prompt cache's columns: hits, and what they saved (`saved_cost_micro_usd`) in USD. */
const cacheHeaders = ['cache_hits', 'saved_usd']
/** Estimated usage's columns: its requests, and their part of the cost (`estimated_cost_micro_usd`) in USD. */
const estimatedHeaders = ['estimated', 'estimated_usd']

/** Integer micro-USD as USD, without trailing zeros: 1234500 → `1.2345`. */
const usd = (microUsd: number | null | undefined): string | null =>
  microUsd === null || microUsd === undefined
    ? null
    : (microUsd / 1_000_000).toFixed(6).replace(/\.?0+$/, '')

export const runUsageCommand = async (
  args: readonly string[],
  context: CliContext
): Promise<void> => {
  const { values } = parseCommandLine(
    args,
    {
      tenant: { type: 'string' },
      key: { type: 'string' },
      model: { type: 'string' },
      provider: { type: 'string' },
      user: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      by: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      csv: { type: 'boolean' },
    },
    group
  )
  if (values.json === true && values.csv === true)
    throw usageError('--json or --csv, not both', group)
  const by = (values.by ?? []).flatMap((item) => item.split(',')).map((item) => item.trim())
  const buckets = by.filter((item) => item === 'day' || item === 'hour')
  if (buckets.length > 1) throw usageError('--by takes one of day or hour', group)
  const dimensions = by.filter((item) => item !== '' && item !== 'day' && item !== 'hour')
  const request = {
    method: 'GET' as const,
    path: '/admin/v1/usage',
    query: {
      from: values.since,
      to: values.until,
      group_by: dimensions.length === 0 ? undefined : dimensions.join(','),
      granularity: buckets[0],
      tenant: values.tenant,
      key: values.key,
      model: values.model,
      provider: values.provider,
      user: values.user,
      format: values.csv === true ? 'csv' : undefined,
    },
    options: {
      from: '--since',
      to: '--until',
      group_by: '--by',
      granularity: '--by',
      tenant: '--tenant',
      key: '--key',
      model: '--model',
      provider: '--provider',
      user: '--user',
    },
  }
  if (values.csv === true) {
    context.out(await context.client.text(request))
    return
  }
  const answer = await context.client.json<UsageAnswer>(request)
  if (values.json === true) {
    context.out(`${JSON.stringify(answer, null, 2)}\n`)
    return
  }
  const range = `Usage from ${answer.from} to ${answer.to}`
  if (answer.data.length === 0) {
    context.out(`${range}: none.\n`)
    return
  }
  const present = dimensionFields.filter((field) => field in answer.data[0])
  // Two columns of zeros and dashes on every table of a gateway that caches nothing would only widen it.
  const cached = answer.data.some(
    (row) => Number(row.cache_hits ?? 0) > 0 || Number(row.cache_misses ?? 0) > 0
  )
  const estimated = answer.data.some((row) => Number(row.estimated_requests ?? 0) > 0)
  const headers = [
    ...present,
    ...shownMetrics,
    'cost_usd',
    ...(cached ? cacheHeaders : []),
    ...(estimated ? estimatedHeaders : []),
  ]
  const rows = answer.data.map((row): TableCell[] => [
    ...present.map((field) => row[field]),
    ...shownMetrics.map((field) => row[field]),
    usd(row.cost_micro_usd as number | null),
    ...(cached ? [row.cache_hits, usd(row.saved_cost_micro_usd as number | null)] : []),
    ...(estimated
      ? [row.estimated_requests, usd(row.estimated_cost_micro_usd as number | null)]
      : []),
  ])
  context.out(`${range}:\n${formatTable(headers, rows)}`)
}
