/**
 * `gatehouse models list|activate|reset`: the versions of the models the gateway runs itself (the local model), over
 * the admin API (the master key). `activate <model>@<version>` loads that version and sends new calls to it, the calls
 * running finishing on the version they started on: rolling back is the same command with the previous version.
 * `reset <model>` goes back to the config's pinned version, else the highest. `<model>` is `provider/model` or the
 * model's name alone.
 */
import type { WireModelVersions } from '../api/admin/models.route.ts'
import type { CliContext } from './cli-context.ts'
import { usageError } from './cli-error.ts'
import { formatTable } from './format-table.ts'
import { parseCommandLine } from './parse-command-line.ts'

const group = 'models'
const json = { json: { type: 'boolean' } } as const

const sourceLabels: Record<WireModelVersions['source'], string> = {
  default: 'highest',
  config: 'config',
  activation: 'activated',
}

const pathOf = (model: string, action: 'activate' | 'activation'): string =>
  `/admin/v1/models/${encodeURIComponent(model)}/${action}`

const printed = (
  context: CliContext,
  asJson: boolean | undefined,
  answer: unknown,
  text: () => string
): void => context.out(asJson === true ? `${JSON.stringify(answer, null, 2)}\n` : text())

/** `local/gatehouse-tiny: version 2 serves (activated)`, and what still finishes on the versions it replaced. */
const describeServing = (model: WireModelVersions, previous: string | null): string => {
  const serving = `${model.id}: version ${model.active_version ?? '(unversioned)'} serves new requests (${sourceLabels[model.source]})`
  const was =
    previous === null || previous === model.active_version
      ? ''
      : `, in place of version ${previous}`
  const draining =
    model.draining_versions.length === 0
      ? ''
      : `; requests already running on version ${model.draining_versions.join(', ')} finish there, then it is released`
  return `${serving}${was}${draining}.\n`
}

const list = async (args: readonly string[], context: CliContext): Promise<void> => {
  const { values } = parseCommandLine(args, json, group)
  const answer = await context.client.json<{ data: WireModelVersions[] }>({
    method: 'GET',
    path: '/admin/v1/models',
  })
  printed(context, values.json, answer, () =>
    answer.data.length === 0
      ? 'No model with versions: the gateway runs no local model.\n'
      : formatTable(
          ['MODEL', 'ACTIVE', 'CHOSEN BY', 'VERSIONS', 'FINISHING'],
          answer.data.map((model) => [
            model.id,
            model.active_version ?? '(unversioned)',
            sourceLabels[model.source],
            model.versions.join(', ') || '-',
            model.draining_versions.join(', ') || '-',
          ])
        )
  )
}

/** What `serving` is before the change, for the message: the gateway's own list. */
const servingNow = async (context: CliContext, model: string): Promise<string | null> => {
  const { data } = await context.client.json<{ data: WireModelVersions[] }>({
    method: 'GET',
    path: '/admin/v1/models',
  })
  const found = data.filter((each) => each.id === model || each.model === model)
  return found.length === 1 ? found[0].active_version : null
}

const activate = async (args: readonly string[], context: CliContext): Promise<void> => {
  const { values, positionals } = parseCommandLine(args, json, group, ['model@version'])
  const [named] = positionals
  const at = named.lastIndexOf('@')
  if (at <= 0 || at === named.length - 1)
    throw usageError(
      `write the model and the version as <model>@<version> (local/gatehouse-tiny@2), not ${named}`,
      group
    )
  const model = named.slice(0, at)
  const previous = await servingNow(context, model)
  const answer = await context.client.json<WireModelVersions>({
    method: 'POST',
    path: pathOf(model, 'activate'),
    body: { version: named.slice(at + 1) },
  })
  printed(context, values.json, answer, () => describeServing(answer, previous))
}

const reset = async (args: readonly string[], context: CliContext): Promise<void> => {
  const { values, positionals } = parseCommandLine(args, json, group, ['model'])
  const [model] = positionals
  const previous = await servingNow(context, model)
  const answer = await context.client.json<WireModelVersions>({
    method: 'DELETE',
    path: pathOf(model, 'activation'),
  })
  printed(context, values.json, answer, () => describeServing(answer, previous))
}

export const runModelsCommand = async (
  args: readonly string[],
  context: CliContext
): Promise<void> => {
  const [action, ...rest] = args
  switch (action) {
    case 'list':
      return list(rest, context)
    case 'activate':
      return activate(rest, context)
    case 'reset':
      return reset(rest, context)
    default:
      throw usageError(
        action === undefined ? 'which models command?' : `unknown models command: ${action}`,
        group
      )
  }
}
