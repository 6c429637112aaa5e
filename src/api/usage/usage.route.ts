/**
 * Usage reads: `GET /admin/v1/usage` (the master key, everyone's usage) and `GET /v1/usage` (a tenant key reads its
 * own tenant's usage, and nobody else's; the master key reads everything there too). Both answer from the usage
 * store's hourly and daily roll-ups, over a range, grouped by any of tenant, key, model, provider and user, per UTC
 * hour or day, as JSON or CSV with the same field names (the store's `UsageRow`, times as ISO 8601).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { GatewayError } from '../../core/errors.ts'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import {
  usageDimensions,
  type UsageDimension,
  type UsageQuery,
  type UsageRow,
} from '../../stores/usage-store.ts'
import { adminErrorResponses } from '../admin/admin-error-responses.ts'
import { answerWithRateLimitHeaders } from '../answer-with-rate-limit-headers.ts'
import { isoTime } from '../admin/admin-wire.ts'
import { findTenant, requireTenant } from '../admin/find-tenant.ts'
import { requireStore } from '../admin/require-store.ts'
import { parseUsageTime } from './parse-usage-time.ts'
import { toUsageCsv, type CsvValue } from './usage-csv.ts'

const hourMs = 3_600_000
const defaultFrom = '30d'

const dimensionColumns = {
  tenant: 'tenant_id',
  key: 'key_id',
  model: 'model',
  provider: 'provider',
  user: 'user_id',
} as const satisfies Record<UsageDimension, keyof UsageRow>

/** The summed fields of a row, in the order the JSON and the CSV give them. */
export const usageMetricFields = [
  'requests',
  'errors',
  'client_aborted',
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'cost_micro_usd',
  'unpriced_requests',
  'latency_ms_total',
  // Last, so that the CSV columns of the fields before keep their places.
  'cache_hits',
  'cache_misses',
  'saved_cost_micro_usd',
  'estimated_requests',
  'estimated_cost_micro_usd',
] as const satisfies readonly (keyof UsageRow)[]

// A field added to `UsageRow` must be placed here too, or this stops compiling.
type Unplaced = Exclude<
  keyof UsageRow,
  'bucket_start' | (typeof dimensionColumns)[UsageDimension] | (typeof usageMetricFields)[number]
>
const everyFieldPlaced: [Unplaced] extends [never] ? true : never = true
void everyFieldPlaced

const dimensionList = new RegExp(
  `^\\s*(${usageDimensions.join('|')})\\s*(,\\s*(${usageDimensions.join('|')})\\s*)*$`
)

export const usageQuerySchema = z.strictObject({
  from: z
    .string()
    .optional()
    .openapi({
      description: `Start, inclusive (rounded down to the hour): an ISO 8601 time with its zone, a UTC date (\`2026-03-01\`), or a duration back from now (\`7d\`, \`12h\`). Default \`${defaultFrom}\``,
      example: '7d',
    }),
  to: z.string().optional().openapi({
    description:
      'End, exclusive (rounded up to the hour), in the same forms as `from`. Default `now`',
  }),
  group_by: z
    .string()
    .regex(dimensionList, `a comma-separated list of ${usageDimensions.join(', ')}`)
    .optional()
    .openapi({ description: 'One row per combination of these', example: 'model,key' }),
  granularity: z.enum(['hour', 'day']).optional().openapi({
    description: 'One row per UTC hour or day (`bucket_start`); absent: the whole range in one',
  }),
  tenant: z.string().min(1).optional().openapi({ description: 'Only this tenant (id or name)' }),
  key: z.string().min(1).optional().openapi({ description: 'Only this key (id)' }),
  model: z.string().min(1).optional().openapi({ description: 'Only this upstream model' }),
  provider: z.string().min(1).optional().openapi({ description: 'Only this provider' }),
  user: z.string().min(1).optional().openapi({ description: 'Only this end user' }),
  format: z.enum(['json', 'csv']).optional().openapi({ description: 'Default `json`' }),
})

type UsageQueryParams = z.infer<typeof usageQuerySchema>

const nullableCount = z.number().int().nullable()

export const usageRowSchema = z
  .object({
    bucket_start: z
      .string()
      .optional()
      .openapi({ description: 'With `granularity`: the UTC hour or day' }),
    tenant_id: z.string().nullable().optional(),
    key_id: z.string().nullable().optional(),
    model: z.string().nullable().optional(),
    provider: z.string().nullable().optional(),
    user_id: z.string().nullable().optional(),
    requests: z.number().int(),
    errors: z.number().int(),
    client_aborted: z.number().int(),
    input_tokens: nullableCount,
    output_tokens: nullableCount,
    cached_tokens: nullableCount,
    cache_write_tokens: nullableCount,
    reasoning_tokens: nullableCount,
    cost_micro_usd: nullableCount.openapi({
      description:
        'Known cost in integer micro-USD, estimated costs included (`estimated_cost_micro_usd`); `null` when no request of the row had a price',
    }),
    unpriced_requests: z.number().int(),
    latency_ms_total: z.number().int(),
    cache_hits: z.number().int().openapi({
      description:
        "Requests the gateway's prompt cache answered (`x-gatehouse-cache: hit`): no tokens, a cost of 0; counted in `requests` too",
    }),
    cache_misses: z.number().int().openapi({
      description:
        'Requests the prompt cache looked up and did not find (`x-gatehouse-cache: miss`); requests it bypassed, or that went to a route without it, are neither',
    }),
    saved_cost_micro_usd: nullableCount.openapi({
      description:
        "What the hits' answers had cost when they were made, at today's prices, in integer micro-USD: what the cache saved. `null` when no hit of the row had a known saving",
    }),
    estimated_requests: z.number().int().openapi({
      description:
        "Requests whose tokens and cost are the gateway's estimate, not the provider's report: a stream that ended before its usage arrived (the client left, the upstream cut it), counted from what passed; or, when nothing could be counted, charged what its budget reserved. Counted in `requests` too",
    }),
    estimated_cost_micro_usd: nullableCount.openapi({
      description:
        'The part of `cost_micro_usd` that is estimated (`estimated_requests`), in integer micro-USD; `null` when no request of the row had an estimated cost',
    }),
  })
  .openapi('UsageRow', {
    description:
      'A dimension is present only when grouped by, `null` when the requests had none; a token count is `null` when no request of the row reported it',
  })

export const usageListSchema = z
  .object({
    object: z.literal('list'),
    from: z.string(),
    to: z.string(),
    granularity: z.enum(['hour', 'day']).nullable(),
    group_by: z.array(z.enum(usageDimensions as [UsageDimension, ...UsageDimension[]])),
    data: z.array(usageRowSchema),
  })
  .openapi('UsageList')

const responses = {
  200: {
    description: 'The rows, by bucket then by the grouped fields',
    content: {
      'application/json': { schema: usageListSchema },
      'text/csv': { schema: z.string().openapi({ description: 'The rows as CSV, header first' }) },
    },
  },
  ...adminErrorResponses,
}

export const adminUsageRoute = createRoute({
  tags: ['Admin'],
  security: [{ bearerAuth: [] }],
  method: 'get',
  path: '/admin/v1/usage',
  summary: "Everyone's usage, grouped and bucketed, as JSON or CSV",
  request: { query: usageQuerySchema },
  responses,
})

export const tenantUsageRoute = createRoute({
  tags: ['Usage'],
  security: [{ bearerAuth: [] }],
  method: 'get',
  path: '/v1/usage',
  summary:
    "Your tenant's usage (a tenant key sees its own tenant only; the master key sees everything)",
  request: { query: usageQuerySchema },
  responses: {
    ...responses,
    403: { ...responses[403], description: 'A tenant key asked for another tenant' },
  },
})

/** Resolves the query's tenant filter: a name becomes its id; `forced` (a tenant key's own) overrides it. */
type TenantScope = { forced: string | null }

const answerUsage = async (
  c: Context<GatewayEnv>,
  deps: Deps,
  params: UsageQueryParams,
  scope: TenantScope
): Promise<Response> => {
  const usage = requireStore(deps.stores, 'usage', 'Usage reads')
  const now = deps.clock.now()
  const requestedFrom = parseUsageTime(params.from ?? defaultFrom, now, 'from')
  const requestedTo = parseUsageTime(params.to ?? 'now', now, 'to')
  // The roll-ups are hourly: the range read is the hours that cover the one asked for, and the answer says so.
  const from = Math.floor(requestedFrom / hourMs) * hourMs
  const to = Math.ceil(requestedTo / hourMs) * hourMs
  if (to <= from)
    throw new GatewayError('invalid_request', '`from` must come before `to`.', { param: 'from' })

  let tenantId: string | undefined
  if (scope.forced !== null) tenantId = scope.forced
  else if (params.tenant !== undefined) {
    const tenants = requireStore(deps.stores, 'tenants', 'Tenants')
    tenantId = (await requireTenant(tenants, params.tenant, { path: false, param: 'tenant' })).id
  }
  const groupBy = [
    ...new Set(
      (params.group_by ?? '')
        .split(',')
        .map((item) => item.trim())
        .filter((item): item is UsageDimension => item !== '')
    ),
  ].sort((left, right) => usageDimensions.indexOf(left) - usageDimensions.indexOf(right))
  const granularity = params.granularity ?? null
  const query: UsageQuery = { from, to, groupBy, granularity }
  if (tenantId !== undefined) query.tenantId = tenantId
  if (params.key !== undefined) query.keyId = params.key
  if (params.model !== undefined) query.model = params.model
  if (params.provider !== undefined) query.provider = params.provider
  if (params.user !== undefined) query.userId = params.user

  const rows = await usage.summarize(query)
  const fields = [
    ...(granularity === null ? [] : ['bucket_start']),
    ...groupBy.map((dimension) => dimensionColumns[dimension]),
    ...usageMetricFields,
  ]
  const wireRows = rows.map((row) => {
    const wire: Record<string, CsvValue> = {}
    for (const field of fields) {
      const value = row[field as keyof UsageRow]
      wire[field] = field === 'bucket_start' ? isoTime(value as number) : (value ?? null)
    }
    return wire
  })
  if (params.format === 'csv')
    return c.body(toUsageCsv(fields, wireRows), 200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': 'attachment; filename="usage.csv"',
    })
  return c.json({
    object: 'list',
    from: isoTime(from),
    to: isoTime(to),
    granularity,
    group_by: groupBy,
    data: wireRows,
  })
}

export const registerAdminUsage = (app: OpenAPIHono<GatewayEnv>, deps: Deps): void => {
  app.openapi(adminUsageRoute, (c) => answerUsage(c, deps, c.req.valid('query'), { forced: null }))
}

/** Behind the `/v1` authentication: the principal is set. A tenant key's answer carries its `x-ratelimit-*` headers. */
export const registerTenantUsage = (app: OpenAPIHono<GatewayEnv>, deps: Deps): void => {
  app.openapi(tenantUsageRoute, async (c) => {
    const params = c.req.valid('query')
    const principal = c.get('principal')
    if (principal.kind === 'master') return answerUsage(c, deps, params, { forced: null })
    const own = principal.tenantId
    if (own === null)
      throw new GatewayError(
        'permission',
        'This key belongs to no tenant: it has no usage to read.'
      )
    if (params.tenant !== undefined && params.tenant !== own) {
      const tenant = deps.stores.tenants ? await findTenant(deps.stores.tenants, own) : null
      if (tenant === null || tenant.name !== params.tenant)
        throw new GatewayError(
          'permission',
          "A tenant key reads its own tenant's usage only: leave `tenant` out, or name your own.",
          { param: 'tenant' }
        )
    }
    return answerWithRateLimitHeaders(c, deps, () => answerUsage(c, deps, params, { forced: own }))
  })
}
