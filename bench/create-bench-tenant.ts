/**
 * The tenant and key the `-tenant` scenarios call the gateway with, created through the admin API of the gateway
 * under test (with the CLI's client), as an operator would: requests per minute, tokens per minute and a monthly
 * budget on the key and on its tenant, far above what a run can use, so that none refuses a request, yet each is
 * checked and settled on every request (in Redis, the spend read from the SQL store). `readUsage` reads back what
 * the usage store recorded for the tenant, through the same API.
 */
import type { CreateKeyBody, CreateTenantBody, WireKey } from '../src/api/admin/admin-schemas.ts'
import { createAdminClient } from '../src/cli/admin-client.ts'

/** 10 million requests and 10^12 tokens per minute, 1 million USD a month: a run uses a small part of each. */
export const benchTenantLimits = {
  rpm: 10_000_000,
  tpm: 1_000_000_000_000,
  budgetUsd: 1_000_000,
} as const

/** The tenant's row of `GET /admin/v1/usage` over the run (every request since the tenant was created). */
export type BenchTenantUsage = {
  requests: number
  errors: number
  clientAborted: number
  costMicroUsd: number | null
  unpricedRequests: number
}

export type BenchTenant = {
  tenantId: string
  keyId: string
  /** The key itself, as clients send it. */
  key: string
  readUsage(): Promise<BenchTenantUsage>
}

type UsageRowWire = {
  requests: number
  errors: number
  client_aborted: number
  cost_micro_usd: number | null
  unpriced_requests: number
}

export const createBenchTenant = async (options: {
  url: string
  masterKey: string
}): Promise<BenchTenant> => {
  const admin = createAdminClient({ baseUrl: options.url, masterKey: options.masterKey, fetch })
  const access = {
    limits: { rpm: benchTenantLimits.rpm, tpm: benchTenantLimits.tpm },
    budget: { usd: benchTenantLimits.budgetUsd, period: 'month' },
  } satisfies Pick<CreateTenantBody, 'limits' | 'budget'>
  const tenant = await admin.json<{ id: string }>({
    method: 'POST',
    path: '/admin/v1/tenants',
    body: { name: 'bench', ...access } satisfies CreateTenantBody,
  })
  const key = await admin.json<WireKey & { key: string }>({
    method: 'POST',
    path: '/admin/v1/keys',
    body: { tenant: tenant.id, name: 'bench', ...access } satisfies CreateKeyBody,
  })
  return {
    tenantId: tenant.id,
    keyId: key.id,
    key: key.key,
    readUsage: async () => {
      const answer = await admin.json<{ data: UsageRowWire[] }>({
        method: 'GET',
        path: '/admin/v1/usage',
        query: { tenant: tenant.id, from: '1d' },
      })
      const row = answer.data[0]
      return {
        requests: row?.requests ?? 0,
        errors: row?.errors ?? 0,
        clientAborted: row?.client_aborted ?? 0,
        costMicroUsd: row?.cost_micro_usd ?? null,
        unpricedRequests: row?.unpriced_requests ?? 0,
      }
    },
  }
}
