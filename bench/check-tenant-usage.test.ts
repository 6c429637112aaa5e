import { describe, expect, it } from 'vitest'
import { checkTenantUsage, tenantUsageFailures } from './check-tenant-usage.ts'
import type { BenchTenantUsage } from './create-bench-tenant.ts'

const usage = (overrides: Partial<BenchTenantUsage> = {}): BenchTenantUsage => ({
  requests: 1_012,
  errors: 2,
  clientAborted: 10,
  costMicroUsd: 5_000,
  unpricedRequests: 10,
  ...overrides,
})

describe('tenantUsageFailures', () => {
  it('accepts every request that reached the mock recorded once, plus the ones clients cut short', () => {
    expect(tenantUsageFailures({ ...usage(), upstreamRequests: 1_000 })).toEqual([])
  })

  it('fails when a request that reached the mock is missing from the store', () => {
    expect(
      tenantUsageFailures({
        ...usage({ requests: 999, errors: 0, clientAborted: 0 }),
        upstreamRequests: 1_000,
      })
    ).toEqual([
      'tenant usage: 1000 tenant-key requests reached the mock but the usage store holds 999',
    ])
  })

  it('fails when the store holds more successful requests than reached the mock', () => {
    expect(
      tenantUsageFailures({
        ...usage({ requests: 1_010, errors: 2, clientAborted: 3 }),
        upstreamRequests: 1_000,
      })
    ).toEqual([
      'tenant usage: the usage store holds 1005 successful tenant-key requests, more than the 1000 that reached the mock',
    ])
  })

  it('fails without a known cost', () => {
    expect(
      tenantUsageFailures({ ...usage({ costMicroUsd: null }), upstreamRequests: 1_000 })
    ).toEqual(['tenant usage: no known cost (10 requests without a price)'])
  })
})

describe('checkTenantUsage', () => {
  it('reads again until the store holds every request that reached the mock (events are written in batches)', async () => {
    const reads = [
      usage({ requests: 400, errors: 0 }),
      usage({ requests: 900, errors: 0 }),
      usage(),
    ]
    let calls = 0
    const checked = await checkTenantUsage({
      tenant: { readUsage: async () => reads[Math.min(calls++, reads.length - 1)] },
      upstreamRequests: 1_000,
      pollMs: 1,
    })
    expect(calls).toBe(3)
    expect(checked.failures).toEqual([])
    expect(checked.usage.requests).toBe(1_012)
    expect(checked.usage.upstreamRequests).toBe(1_000)
  })

  it('gives up after its timeout and reports what is missing', async () => {
    const checked = await checkTenantUsage({
      tenant: { readUsage: async () => usage({ requests: 10, errors: 0 }) },
      upstreamRequests: 1_000,
      timeoutMs: 20,
      pollMs: 5,
    })
    expect(checked.failures).toEqual([
      'tenant usage: 1000 tenant-key requests reached the mock but the usage store holds 10',
    ])
  })
})
