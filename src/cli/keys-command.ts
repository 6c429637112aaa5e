/**
 * `gatehouse keys create|list|show|update|revoke|rotate`: the admin API's key routes from a terminal. A new key (from
 * `create` or `rotate`) is printed once, as the gateway answers it once.
 */
import type { WireKey } from '../api/admin/admin-schemas.ts'
import { durationHelp, parseDuration } from '../core/parse-duration.ts'
import { accessBody, accessFieldOptions, accessOptionSpecs } from './access-options.ts'
import type { CliContext } from './cli-context.ts'
import { usageError } from './cli-error.ts'
import { describeKey, keyTable } from './describe-records.ts'
import { parseCommandLine } from './parse-command-line.ts'

const group = 'keys'
const json = { json: { type: 'boolean' } } as const

type MadeKey = WireKey & { key: string; previous_secrets_valid_until?: string }

const keyPath = (id: string): string => `/admin/v1/keys/${encodeURIComponent(id)}`

/** A calendar date without a time (`2027-01-01`): its start, UTC, as the usage queries read one. */
const utcDate = /^\d{4}-\d{2}-\d{2}$/

/**
 * `30d` from now, a UTC date (its midnight), an ISO time as it is (the gateway checks it), or `never`. A duration back
 * from now (`-3d`) is an expiry in the past, which the gateway refuses naming it: it goes as that time.
 */
const readExpiry = (value: string, now: number): string | null => {
  if (value === 'never') return null
  if (utcDate.test(value)) return `${value}T00:00:00Z`
  const back = value.startsWith('-') ? parseDuration(value.slice(1)) : null
  if (back !== null) return new Date(now - back).toISOString()
  const duration = parseDuration(value)
  return duration === null ? value : new Date(now + duration).toISOString()
}

/** A key's fields as `keys create` and `keys update` take them. */
const keyFieldOptions = {
  ...accessFieldOptions,
  tenant: '--tenant',
  name: '--name',
  expires_at: '--expires',
}

const showOnce = (made: MadeKey): string =>
  [
    'The key, shown only this once (the gateway keeps only its hash):',
    '',
    `  ${made.key}`,
    '',
  ].join('\n')

export const runKeysCommand = async (
  args: readonly string[],
  context: CliContext
): Promise<void> => {
  const [action, ...rest] = args
  const { client } = context
  const print = (asJson: boolean | undefined, value: unknown, text: string) =>
    context.out(asJson === true ? `${JSON.stringify(value, null, 2)}\n` : text)

  switch (action) {
    case 'create':
    case 'update': {
      const creating = action === 'create'
      const { values, positionals } = parseCommandLine(
        rest,
        {
          ...accessOptionSpecs,
          ...json,
          tenant: { type: 'string' },
          name: { type: 'string' },
          expires: { type: 'string' },
        },
        group,
        creating ? [] : ['id']
      )
      const body = accessBody(values, group)
      if (values.name !== undefined) body.name = values.name
      if (values.expires !== undefined) body.expires_at = readExpiry(values.expires, context.now())
      if (creating) {
        if (values.tenant === undefined) throw usageError('--tenant is required', group)
        const made = await client.json<MadeKey>({
          method: 'POST',
          path: '/admin/v1/keys',
          body: { tenant: values.tenant, ...body },
          options: keyFieldOptions,
        })
        print(values.json, made, `Created key ${made.id}.\n${showOnce(made)}${describeKey(made)}`)
        return
      }
      if (values.tenant !== undefined)
        throw usageError('a key cannot move to another tenant', group)
      if (Object.keys(body).length === 0) throw usageError('nothing to change', group)
      const key = await client.json<WireKey>({
        method: 'PATCH',
        path: keyPath(positionals[0]),
        body,
        options: keyFieldOptions,
      })
      print(values.json, key, `Updated key ${key.id}.\n${describeKey(key)}`)
      return
    }
    case 'list': {
      const { values } = parseCommandLine(
        rest,
        { ...json, tenant: { type: 'string' }, all: { type: 'boolean' } },
        group
      )
      const list = await client.json<{ data: WireKey[] }>({
        method: 'GET',
        path: '/admin/v1/keys',
        query: { tenant: values.tenant, include_revoked: values.all === true ? 'true' : undefined },
      })
      print(values.json, list, list.data.length === 0 ? 'No keys.\n' : keyTable(list.data))
      return
    }
    case 'show': {
      const { values, positionals } = parseCommandLine(rest, json, group, ['id'])
      const key = await client.json<WireKey>({ method: 'GET', path: keyPath(positionals[0]) })
      print(values.json, key, describeKey(key))
      return
    }
    case 'revoke': {
      const { values, positionals } = parseCommandLine(rest, json, group, ['id'])
      const key = await client.json<WireKey>({
        method: 'POST',
        path: `${keyPath(positionals[0])}/revoke`,
      })
      print(values.json, key, `Revoked key ${key.id} (${key.name}).\n`)
      return
    }
    case 'rotate': {
      const { values, positionals } = parseCommandLine(
        rest,
        { ...json, grace: { type: 'string' } },
        group,
        ['id']
      )
      const body: Record<string, number> = {}
      if (values.grace !== undefined) {
        const grace = parseDuration(values.grace)
        if (grace === null) throw usageError(`--grace: ${durationHelp}`, group)
        body.grace_period_seconds = grace / 1000
      }
      const made = await client.json<MadeKey>({
        method: 'POST',
        path: `${keyPath(positionals[0])}/rotate`,
        body,
        options: { grace_period_seconds: '--grace' },
      })
      print(
        values.json,
        made,
        `Rotated key ${made.id}: its previous secret works until ${made.previous_secrets_valid_until}.\n${showOnce(made)}`
      )
      return
    }
    default:
      throw usageError(
        action === undefined ? 'which keys command?' : `unknown keys command: ${action}`,
        group
      )
  }
}
