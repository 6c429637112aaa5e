/**
 * The CLI's commands that manage a running gateway: `gatehouse tenants …`, `gatehouse keys …`, `gatehouse usage …`,
 * `gatehouse cache …`, `gatehouse models …`.
 * `bin/gatehouse.js` dispatches here with the process's environment, `fetch` and output; tests pass their own (a
 * `fetch` that calls the app in process, or the real one against a served gateway). Resolves with the exit code: 0,
 * 1 when the gateway refused or could not be reached, 2 for a wrong command line. Every failure is one line on
 * stderr, `gatehouse: …`.
 */
import { createAdminClient, defaultGatewayUrl } from './admin-client.ts'
import type { CliContext } from './cli-context.ts'
import { CliError, usageError } from './cli-error.ts'
import { runCacheCommand } from './cache-command.ts'
import { runKeysCommand } from './keys-command.ts'
import { runModelsCommand } from './models-command.ts'
import { runTenantsCommand } from './tenants-command.ts'
import { runUsageCommand } from './usage-command.ts'

export type CliIo = {
  env: Record<string, string | undefined>
  fetch: typeof fetch
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Epoch ms (default `Date.now`): `--expires 30d` counts from it. */
  now?: () => number
}

const groups = {
  tenants: runTenantsCommand,
  keys: runKeysCommand,
  usage: runUsageCommand,
  cache: runCacheCommand,
  models: runModelsCommand,
} as const

export const cliGroups = Object.keys(groups) as (keyof typeof groups)[]

export const runCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  try {
    const [name, ...rest] = argv
    const run = groups[name as keyof typeof groups]
    if (run === undefined) throw usageError(`unknown command: ${name}`)
    const context: CliContext = {
      // Without GATEHOUSE_MASTER_KEY, the first admin request fails saying so (`cache warm` makes none).
      client: createAdminClient({
        baseUrl: io.env.GATEHOUSE_URL?.trim() || defaultGatewayUrl,
        masterKey: io.env.GATEHOUSE_MASTER_KEY?.trim(),
        fetch: io.fetch,
      }),
      out: io.stdout,
      now: io.now ?? Date.now,
      env: io.env,
      fetch: io.fetch,
    }
    await run(rest, context)
    return 0
  } catch (error) {
    if (!(error instanceof CliError)) throw error
    io.stderr(`gatehouse: ${error.message}\n`)
    return error.exitCode
  }
}
