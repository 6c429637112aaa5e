/**
 * Between the admin API's wire format (`admin-schemas.ts`) and the tenant store's records: epoch ms become ISO 8601
 * strings, micro-USD gain their USD, snake_case becomes camelCase. Input has passed its schema already.
 */
import type {
  AccessSettings,
  AccessSettingsInput,
  ApiKeyRecord,
  Budget,
  TenantRecord,
} from '../../stores/tenant-store.ts'
import type { CreateTenantBody, WireKey, WireTenant } from './admin-schemas.ts'

type AccessBody = Pick<CreateTenantBody, 'allowed_models' | 'limits' | 'budget' | 'metadata'>

export const isoTime = (epochMs: number): string => new Date(epochMs).toISOString()

const isoOrNull = (epochMs: number | null): string | null =>
  epochMs === null ? null : isoTime(epochMs)

const wireBudget = (budget: Budget | null) =>
  budget === null
    ? null
    : { usd: budget.microUsd / 1_000_000, micro_usd: budget.microUsd, period: budget.period }

const wireAccess = (settings: AccessSettings) => ({
  allowed_models: settings.allowedModels,
  limits: { ...settings.limits },
  budget: wireBudget(settings.budget),
  metadata: settings.metadata,
})

export const toWireTenant = (tenant: TenantRecord): WireTenant => ({
  id: tenant.id,
  object: 'tenant',
  name: tenant.name,
  ...wireAccess(tenant),
  disabled: tenant.disabledAt !== null,
  disabled_at: isoOrNull(tenant.disabledAt),
  created_at: isoTime(tenant.createdAt),
  updated_at: isoTime(tenant.updatedAt),
})

/**
 * `now` decides the status: a key past its expiry reads `expired` though nothing was written. A key that is neither
 * revoked nor expired but whose tenant is disabled reads `tenant_disabled`: every request with it is refused, and
 * `active` would say otherwise.
 */
export const toWireKey = (key: ApiKeyRecord, now: number, tenantDisabled: boolean): WireKey => ({
  id: key.id,
  object: 'api_key',
  tenant_id: key.tenantId,
  name: key.name,
  display_prefix: key.displayPrefix,
  status:
    key.revokedAt !== null && key.revokedAt <= now
      ? 'revoked'
      : key.expiresAt !== null && key.expiresAt <= now
        ? 'expired'
        : tenantDisabled
          ? 'tenant_disabled'
          : 'active',
  ...wireAccess(key),
  expires_at: isoOrNull(key.expiresAt),
  revoked_at: isoOrNull(key.revokedAt),
  created_at: isoTime(key.createdAt),
  updated_at: isoTime(key.updatedAt),
})

/** The store's settings input: only the fields the body has, so a patch leaves the others alone. */
export const fromWireAccess = (body: AccessBody): AccessSettingsInput => {
  const settings: AccessSettingsInput = {}
  if (body.allowed_models !== undefined) settings.allowedModels = body.allowed_models
  if (body.limits !== undefined) settings.limits = body.limits
  if (body.metadata !== undefined) settings.metadata = body.metadata
  if (body.budget !== undefined)
    settings.budget =
      body.budget === null
        ? null
        : {
            // The schema allows at most 6 decimals; rounding only removes the binary fraction's noise.
            microUsd: body.budget.micro_usd ?? Math.round((body.budget.usd ?? 0) * 1_000_000),
            period: body.budget.period,
          }
  return settings
}
