import { GatewayError, invalidRequest } from '../../core/errors.ts'
import type { TenantRecord, TenantStore } from '../../stores/tenant-store.ts'

/** A tenant by id (`ten_…`) or by name (`acme`): the admin API and the CLI take either. */
export const findTenant = async (
  store: TenantStore,
  reference: string
): Promise<TenantRecord | null> =>
  (await store.getTenant(reference)) ?? (await store.getTenantByName(reference))

/**
 * The tenant a request names, or the error that says it does not exist: a 404 when it is the resource in the path,
 * a 400 naming the field when it is a value in the body or the query.
 */
export const requireTenant = async (
  store: TenantStore,
  reference: string,
  where: { path: boolean; param: string }
): Promise<TenantRecord> => {
  const tenant = await findTenant(store, reference)
  if (tenant !== null) return tenant
  const message = `No tenant has the id or name ${JSON.stringify(reference)}.`
  throw where.path
    ? new GatewayError('not_found', message, { param: where.param })
    : invalidRequest(message, where.param)
}
