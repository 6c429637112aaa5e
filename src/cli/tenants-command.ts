/**
 * `gatehouse tenants create|list|show|update|disable|enable`: the admin API's tenant routes from a terminal.
 */
import type { WireTenant } from '../api/admin/admin-schemas.ts'
import { accessBody, accessFieldOptions, accessOptionSpecs } from './access-options.ts'
import type { CliContext } from './cli-context.ts'
import { usageError } from './cli-error.ts'
import { describeTenant, tenantTable } from './describe-records.ts'
import { parseCommandLine } from './parse-command-line.ts'

const group = 'tenants'
const json = { json: { type: 'boolean' } } as const

const tenantPath = (reference: string): string =>
  `/admin/v1/tenants/${encodeURIComponent(reference)}`

const print = (context: CliContext, asJson: boolean | undefined, value: unknown, text: string) =>
  context.out(asJson === true ? `${JSON.stringify(value, null, 2)}\n` : text)

export const runTenantsCommand = async (
  args: readonly string[],
  context: CliContext
): Promise<void> => {
  const [action, ...rest] = args
  const { client } = context
  switch (action) {
    case 'create': {
      const { values, positionals } = parseCommandLine(
        rest,
        { ...accessOptionSpecs, ...json },
        group,
        ['name']
      )
      const tenant = await client.json<WireTenant>({
        method: 'POST',
        path: '/admin/v1/tenants',
        body: { name: positionals[0], ...accessBody(values, group) },
        options: accessFieldOptions,
      })
      print(
        context,
        values.json,
        tenant,
        `Created tenant ${tenant.name}.\n${describeTenant(tenant)}`
      )
      return
    }
    case 'update': {
      const { values, positionals } = parseCommandLine(
        rest,
        { ...accessOptionSpecs, ...json, name: { type: 'string' } },
        group,
        ['tenant']
      )
      const body = accessBody(values, group)
      if (values.name !== undefined) body.name = values.name
      if (Object.keys(body).length === 0) throw usageError('nothing to change', group)
      const tenant = await client.json<WireTenant>({
        method: 'PATCH',
        path: tenantPath(positionals[0]),
        body,
        options: { ...accessFieldOptions, name: '--name' },
      })
      print(
        context,
        values.json,
        tenant,
        `Updated tenant ${tenant.name}.\n${describeTenant(tenant)}`
      )
      return
    }
    case 'list': {
      const { values } = parseCommandLine(rest, { ...json, all: { type: 'boolean' } }, group)
      const list = await client.json<{ data: WireTenant[] }>({
        method: 'GET',
        path: '/admin/v1/tenants',
        query: { include_disabled: values.all === true ? 'true' : undefined },
      })
      print(
        context,
        values.json,
        list,
        list.data.length === 0 ? 'No tenants.\n' : tenantTable(list.data)
      )
      return
    }
    case 'show': {
      const { values, positionals } = parseCommandLine(rest, json, group, ['tenant'])
      const tenant = await client.json<WireTenant>({
        method: 'GET',
        path: tenantPath(positionals[0]),
      })
      print(context, values.json, tenant, describeTenant(tenant))
      return
    }
    case 'disable':
    case 'enable': {
      const { values, positionals } = parseCommandLine(rest, json, group, ['tenant'])
      const tenant = await client.json<WireTenant>({
        method: 'POST',
        path: `${tenantPath(positionals[0])}/${action}`,
      })
      print(
        context,
        values.json,
        tenant,
        action === 'disable'
          ? `Disabled tenant ${tenant.name}: its keys are refused.\n`
          : `Enabled tenant ${tenant.name}.\n`
      )
      return
    }
    default:
      throw usageError(
        action === undefined ? 'which tenants command?' : `unknown tenants command: ${action}`,
        group
      )
  }
}
