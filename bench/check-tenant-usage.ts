/**
 * After the tenant scenarios: what the usage store recorded for the tenant key (`GET /admin/v1/usage`), against the
 * requests the key got through to the mock (preflight, warm-ups, rounds and their lead-ins). Every one of those must
 * be recorded, none twice, with a known cost: the accounting the scenarios measure really happened.
 */
import type { BenchTenant, BenchTenantUsage } from './create-bench-tenant.ts'

export type TenantUsageCheck = BenchTenantUsage & {
  /** Tenant-key requests the mock answered. */
  upstreamRequests: number
}

/**
 * A request the mock answered is recorded at least once: the store holds at least that many requests. A successful
 * one is recorded at most once: the store holds no more successes than that. The requests cut at a round's end, some
 * before the gateway called the mock (while their body was read, or before they were admitted), are recorded as
 * client-aborted (status 499), which the roll-ups count apart from errors since 2026-12-07: neither is a success.
 * The cost is known.
 */
export const tenantUsageFailures = (usage: TenantUsageCheck): string[] => {
  const failures: string[] = []
  if (usage.requests < usage.upstreamRequests)
    failures.push(
      `tenant usage: ${usage.upstreamRequests} tenant-key requests reached the mock but the usage store holds ${usage.requests}`
    )
  const succeeded = usage.requests - usage.errors - usage.clientAborted
  if (succeeded > usage.upstreamRequests)
    failures.push(
      `tenant usage: the usage store holds ${succeeded} successful tenant-key requests, more than the ${usage.upstreamRequests} that reached the mock`
    )
  if (usage.costMicroUsd === null || usage.costMicroUsd <= 0)
    failures.push(
      `tenant usage: no known cost (${usage.unpricedRequests} requests without a price)`
    )
  return failures
}

/**
 * Reads the tenant's usage until it holds `upstreamRequests` requests or `timeoutMs` passed (the gateway writes
 * events in batches, at least once a second), then judges it.
 */
export const checkTenantUsage = async (options: {
  tenant: Pick<BenchTenant, 'readUsage'>
  upstreamRequests: number
  timeoutMs?: number
  pollMs?: number
}): Promise<{ usage: TenantUsageCheck; failures: string[] }> => {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000)
  for (;;) {
    const read = await options.tenant.readUsage()
    if (read.requests >= options.upstreamRequests || Date.now() >= deadline) {
      const usage = { ...read, upstreamRequests: options.upstreamRequests }
      return { usage, failures: tenantUsageFailures(usage) }
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250))
  }
}
