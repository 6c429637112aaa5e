import type { AdminClient } from './admin-client.ts'

/** What a CLI command works with: the gateway, where its output goes, and the time (for `--expires 30d`). */
export type CliContext = {
  client: AdminClient
  out: (text: string) => void
  now: () => number
}
