/**
 * How the CLI shows tenants and keys to a person: tables for lists, `field: value` lines for one record. `--json`
 * bypasses all of this and prints the gateway's answer as it is.
 */
import type { WireKey, WireTenant } from '../api/admin/admin-schemas.ts'
import { formatTable, type TableCell } from './format-table.ts'

type Budget = WireTenant['budget']

/** `$50/month`, `$0.25/day`, `$1000 total`. */
export const describeBudget = (budget: Budget): string | null => {
  if (budget === null) return null
  const amount = `$${budget.usd}`
  return budget.period === 'total' ? `${amount} total` : `${amount}/${budget.period}`
}

const describeModels = (models: string[] | null): string =>
  models === null ? 'all' : models.join(',')

const describeMetadata = (metadata: Record<string, string>): string | null => {
  const entries = Object.entries(metadata)
  return entries.length === 0 ? null : entries.map(([key, value]) => `${key}=${value}`).join(' ')
}

const details = (fields: [string, TableCell][]): string => {
  const width = Math.max(...fields.map(([name]) => name.length)) + 1
  return (
    fields
      .map(
        ([name, value]) =>
          `${`${name}:`.padEnd(width)} ${value === null || value === undefined ? '-' : value}`
      )
      .join('\n') + '\n'
  )
}

export const describeTenant = (tenant: WireTenant): string =>
  details([
    ['name', tenant.name],
    ['id', tenant.id],
    ['status', tenant.disabled ? `disabled since ${tenant.disabled_at}` : 'active'],
    ['rpm', tenant.limits.rpm],
    ['tpm', tenant.limits.tpm],
    ['concurrency', tenant.limits.concurrency],
    ['budget', describeBudget(tenant.budget)],
    ['models', describeModels(tenant.allowed_models)],
    ['metadata', describeMetadata(tenant.metadata)],
    ['created', tenant.created_at],
  ])

export const tenantTable = (tenants: WireTenant[]): string =>
  formatTable(
    ['NAME', 'ID', 'STATUS', 'RPM', 'TPM', 'CONCURRENCY', 'BUDGET', 'MODELS'],
    tenants.map((tenant) => [
      tenant.name,
      tenant.id,
      tenant.disabled ? 'disabled' : 'active',
      tenant.limits.rpm,
      tenant.limits.tpm,
      tenant.limits.concurrency,
      describeBudget(tenant.budget),
      describeModels(tenant.allowed_models),
    ])
  )

export const describeKey = (key: WireKey): string =>
  details([
    ['id', key.id],
    ['name', key.name],
    ['tenant', key.tenant_id],
    ['prefix', key.display_prefix],
    ['status', key.status],
    ['rpm', key.limits.rpm],
    ['tpm', key.limits.tpm],
    ['concurrency', key.limits.concurrency],
    ['budget', describeBudget(key.budget)],
    ['models', describeModels(key.allowed_models)],
    ['expires', key.expires_at ?? 'never'],
    ['metadata', describeMetadata(key.metadata)],
    ['created', key.created_at],
  ])

export const keyTable = (keys: WireKey[]): string =>
  formatTable(
    ['ID', 'NAME', 'PREFIX', 'STATUS', 'TENANT', 'RPM', 'TPM', 'BUDGET', 'MODELS', 'EXPIRES'],
    keys.map((key) => [
      key.id,
      key.name,
      key.display_prefix,
      key.status,
      key.tenant_id,
      key.limits.rpm,
      key.limits.tpm,
      describeBudget(key.budget),
      describeModels(key.allowed_models),
      key.expires_at ?? 'never',
    ])
  )
