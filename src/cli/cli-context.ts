import type { AdminClient } from './admin-client.ts'

/**
 * What a CLI command works with: the gateway's admin API, where its output goes, and the time (for `--expires 30d`);
 * for a command that calls the gateway's `/v1` routes itself (`cache warm`), the environment and `fetch`.
 */
export type CliContext = {
  client: AdminClient
  out: (text: string) => void
  now: () => number
  env: Record<string, string | undefined>
  fetch: typeof fetch
}
