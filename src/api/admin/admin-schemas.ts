/**
 * The admin API's wire format (`/admin/v1`): snake_case JSON, times as ISO 8601 strings, money as USD with its exact
 * integer micro-USD beside it. Request schemas are strict, so a misspelt field (`rmp`) is a 400 naming it rather than
 * a setting silently ignored; each rule that can be checked without the store or the clock is checked here, so the
 * 400 names the field as the caller wrote it. What needs the clock (an expiry in the past) or the config (a model
 * pattern that matches no provider) is checked by the routes, with the same field names.
 */
import { z } from '@hono/zod-openapi'
import { isStorableText } from '../../stores/storable-text.ts'
import { budgetPeriods, type BudgetPeriod } from '../../stores/tenant-store.ts'

/** Text no database may hold: PostgreSQL refuses a NUL character and half a surrogate pair (`storable-text.ts`). */
const unstorable = 'has a NUL character or half a surrogate pair, which cannot be stored'

/** What `validateTenantName` accepts, checked here so the 400 speaks the API's field names. */
const tenantNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** An id the store makes (`ten_` and 32 hex digits): a tenant named like one would make `{tenant}` ambiguous. */
export const tenantIdShape = /^ten_[0-9a-f]{32}$/

/**
 * A model pattern: a model name (`gpt-4o-mini`, `openai/gpt-4o`) where `*` stands for any run of characters
 * (`openai/*`, `anthropic/claude-*`). Regular expressions are not patterns: `(`, `[`, `?`, `^`, `$`, `|` and spaces
 * are refused, so `gpt-4.?` fails loudly instead of matching nothing.
 */
export const modelPatternShape = /^[A-Za-z0-9._:@+*-]+(\/[A-Za-z0-9._:@+*-]+)*$/

const limitValue = z
  .number()
  .int()
  .positive()
  .max(Number.MAX_SAFE_INTEGER)
  .nullable()
  .optional()
  .openapi({ description: 'A positive whole number; `null` removes the limit' })

export const limitsInputSchema = z
  .strictObject({
    rpm: limitValue.openapi({ description: 'Requests per minute; `null`: no limit' }),
    tpm: limitValue.openapi({ description: 'Tokens per minute; `null`: no limit' }),
    concurrency: limitValue.openapi({ description: 'Requests in flight; `null`: no limit' }),
  })
  .openapi('LimitsInput', {
    description: 'Only the limits named change; the others keep their value (none, on creation)',
  })

export const budgetInputSchema = z
  .strictObject({
    usd: z.number().nonnegative().max(9_000_000_000).optional().openapi({
      description: 'The budget in USD, at most 6 decimals (micro-USD)',
      example: 50,
    }),
    micro_usd: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional().openapi({
      description: 'The budget in integer micro-USD (1 USD = 1,000,000); instead of `usd`',
    }),
    period: z.enum(budgetPeriods as [BudgetPeriod, ...BudgetPeriod[]]).openapi({
      description: 'UTC calendar `day`, `week` (from Monday) or `month`, or `total`',
    }),
  })
  .superRefine((budget, context) => {
    if ((budget.usd === undefined) === (budget.micro_usd === undefined))
      context.addIssue({
        code: 'custom',
        message: 'give the amount as exactly one of `usd` or `micro_usd`',
        path: ['usd'],
      })
    else if (budget.usd !== undefined && Number(budget.usd.toFixed(6)) !== budget.usd)
      context.addIssue({
        code: 'custom',
        message: 'USD amounts have at most 6 decimals (micro-USD)',
        path: ['usd'],
      })
  })
  .openapi('BudgetInput')

export const allowedModelsInputSchema = z
  .array(
    z
      .string()
      .min(1)
      .max(200)
      .regex(
        modelPatternShape,
        'a model pattern is a model name where `*` stands for any characters (`openai/*`, `anthropic/claude-*`): no spaces, no empty `/` segment, no regular expression syntax'
      )
  )
  .min(1, 'an empty list allows no model: send `null` for every model, or disable the key')
  .max(100)
  .nullable()
  .openapi({
    description: 'Model patterns (`openai/*`, `anthropic/claude-*`); `null`: every model',
    example: ['openai/*', 'anthropic/claude-*'],
  })

export const metadataSchema = z
  .record(
    z.string().min(1).max(64).refine(isStorableText, `a metadata name ${unstorable}`),
    z.string().max(1000).refine(isStorableText, `a metadata value ${unstorable}`)
  )
  .refine((metadata) => Object.keys(metadata).length <= 50, 'metadata holds at most 50 entries')
  .openapi({
    description: 'Free-form string labels (owner, cost centre)',
    example: { owner: 'team-a' },
  })

const isoTime = z.iso.datetime({ offset: true })

/** Fields tenants and keys share, all optional: on creation absent means none, in a patch unchanged. */
const accessFields = {
  allowed_models: allowedModelsInputSchema.optional(),
  limits: limitsInputSchema.optional(),
  budget: budgetInputSchema.nullable().optional().openapi({ description: '`null`: no budget' }),
  metadata: metadataSchema.optional(),
}

const tenantName = z
  .string()
  .regex(
    tenantNamePattern,
    'a tenant name is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit'
  )
  .refine((name) => !tenantIdShape.test(name), 'a tenant name cannot have the shape of a tenant id')
  .openapi({ example: 'acme' })

export const createTenantSchema = z
  .strictObject({ name: tenantName, ...accessFields })
  .openapi('CreateTenantRequest')

export const updateTenantSchema = z
  .strictObject({ name: tenantName.optional(), ...accessFields })
  .openapi('UpdateTenantRequest')

const keyName = z
  .string()
  .min(1)
  .max(200)
  .refine((name) => name.trim() !== '', 'a key name is not only spaces')
  .refine(isStorableText, `a key name ${unstorable}`)

export const createKeySchema = z
  .strictObject({
    tenant: z
      .string()
      .min(1)
      .openapi({ description: 'The tenant, by id or name', example: 'acme' }),
    name: keyName.optional().openapi({
      description: "What the key is for; default: the key's display prefix",
      example: 'ci',
    }),
    expires_at: isoTime.nullable().optional().openapi({
      description: 'ISO 8601 time after which the key is refused (in the future); `null`: never',
    }),
    ...accessFields,
  })
  .openapi('CreateKeyRequest')

export const updateKeySchema = z
  .strictObject({
    name: keyName.optional(),
    expires_at: isoTime.nullable().optional(),
    ...accessFields,
  })
  .openapi('UpdateKeyRequest')

/** 24 hours: long enough to roll a secret through a deployment, short enough not to be forgotten. */
export const defaultGracePeriodSeconds = 86_400

export const rotateKeySchema = z
  .strictObject({
    grace_period_seconds: z
      .number()
      .int()
      .min(0)
      .max(365 * 86_400)
      .optional()
      .openapi({
        description: `How long the secrets in use so far keep working (default ${defaultGracePeriodSeconds}); 0 ends them at once`,
      }),
  })
  .openapi('RotateKeyRequest')

const limitsSchema = z
  .object({
    rpm: z.number().nullable(),
    tpm: z.number().nullable(),
    concurrency: z.number().nullable(),
  })
  .openapi('Limits')

const budgetSchema = z
  .object({
    usd: z.number(),
    micro_usd: z.number().int(),
    period: z.enum(budgetPeriods as [BudgetPeriod, ...BudgetPeriod[]]),
  })
  .openapi('Budget')

const accessOutput = {
  allowed_models: z.array(z.string()).nullable(),
  limits: limitsSchema,
  budget: budgetSchema.nullable(),
  metadata: z.record(z.string(), z.string()),
}

export const tenantSchema = z
  .object({
    id: z.string(),
    object: z.literal('tenant'),
    name: z.string(),
    ...accessOutput,
    disabled: z.boolean(),
    disabled_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Tenant')

export const keySchema = z
  .object({
    id: z.string(),
    object: z.literal('api_key'),
    tenant_id: z.string(),
    name: z.string(),
    display_prefix: z
      .string()
      .openapi({ description: 'The first characters of the current secret' }),
    status: z.enum(['active', 'revoked', 'expired', 'tenant_disabled']).openapi({
      description:
        '`tenant_disabled`: neither revoked nor expired, but its tenant is disabled, so every request with it is refused',
    }),
    ...accessOutput,
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('ApiKey')

export const createdKeySchema = keySchema
  .extend({
    key: z.string().openapi({ description: 'The key itself: shown this once, never stored' }),
  })
  .openapi('CreatedApiKey')

export const rotatedKeySchema = createdKeySchema
  .extend({
    previous_secrets_valid_until: z.string().openapi({
      description: 'Until when the secrets in use before the rotation keep working',
    }),
  })
  .openapi('RotatedApiKey')

export const tenantListSchema = z
  .object({ object: z.literal('list'), data: z.array(tenantSchema) })
  .openapi('TenantList')

export const keyListSchema = z
  .object({ object: z.literal('list'), data: z.array(keySchema) })
  .openapi('ApiKeyList')

export type CreateTenantBody = z.infer<typeof createTenantSchema>
export type UpdateTenantBody = z.infer<typeof updateTenantSchema>
export type CreateKeyBody = z.infer<typeof createKeySchema>
export type UpdateKeyBody = z.infer<typeof updateKeySchema>
export type WireTenant = z.infer<typeof tenantSchema>
export type WireKey = z.infer<typeof keySchema>

/** A prompt cache key as `x-gatehouse-cache-key` gives it: a SHA-256 in lowercase hex. */
const cacheKeyShape = /^[0-9a-f]{64}$/

const cacheKey = z
  .string()
  .regex(
    cacheKeyShape,
    'a cache key is the 64 lowercase hex digits a response gave in `x-gatehouse-cache-key`'
  )
  .openapi({ description: 'A cache key, as `x-gatehouse-cache-key` gave it' })

export const cacheEntryParamsSchema = z.object({ key: cacheKey })

const cacheSelectors = ['key', 'tenant', 'model', 'all'] as const

export const cachePurgeSchema = z
  .strictObject({
    key: cacheKey.optional(),
    tenant: z.string().min(1).optional().openapi({
      description:
        "The tenant, by id or name: every entry in its scope (not shared routes' entries)",
      example: 'acme',
    }),
    model: z.string().min(1).max(300).optional().openapi({
      description:
        'Every answer this `provider/model` gave, as the provider instance and upstream model of a route target',
      example: 'openai/gpt-4o-mini',
    }),
    all: z
      .literal(
        true,
        'send `"all": true` to purge everything; to purge less, name a key, tenant or model'
      )
      .optional()
      .openapi({ description: '`true`: every entry' }),
  })
  .superRefine((body, context) => {
    const named = cacheSelectors.filter((name) => body[name] !== undefined)
    if (named.length === 1) return
    context.addIssue({
      code: 'custom',
      message:
        named.length === 0
          ? 'name what to purge: exactly one of `key`, `tenant`, `model` or `all: true`'
          : `name exactly one of \`key\`, \`tenant\`, \`model\` or \`all\`, not ${named.map((name) => `\`${name}\``).join(' and ')}`,
      // Several: the first extra one is the field to take out.
      path: named.length === 0 ? [] : [named[1]],
    })
  })
  .openapi('CachePurgeRequest', {
    description: 'Exactly one selector',
    example: { tenant: 'acme' },
  })

export const cachePurgeResultSchema = z
  .object({
    object: z.literal('cache.purge'),
    selector: z
      .union([
        z.object({ key: z.string() }),
        z.object({ tenant: z.string().openapi({ description: 'The tenant id' }) }),
        z.object({ model: z.string() }),
        z.object({ all: z.literal(true) }),
      ])
      .openapi({ description: 'What was purged; a tenant is named by its id' }),
    deleted: z.number().int().nonnegative().openapi({
      description:
        'How many entries were removed (0: none was there). With the memory backend, only those of the process (or Workers isolate) that answered',
    }),
  })
  .openapi('CachePurge')

export type CachePurgeBody = z.infer<typeof cachePurgeSchema>
export type WireCachePurge = z.infer<typeof cachePurgeResultSchema>
