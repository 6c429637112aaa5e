/**
 * The gateway as `npx gatehouse` runs it (`startNodeServer`), in a fresh temporary folder of its own (its SQLite
 * store and master-key file land there) with the given config file lines: what an integration test needs to talk to
 * a real server over real sockets. The caller closes it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'

export const startTestGateway = async (options: {
  /** Lines of `gatehouse.yaml`. */
  config: string[]
  /** More environment (`DATABASE_URL`, `REDIS_URL`...). */
  env?: Record<string, string>
  /** Where log lines go (default: nowhere). */
  stdout?: (line: string) => void
}): Promise<NodeServer & { cwd: string }> => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-test-'))
  writeFileSync(join(cwd, 'gatehouse.yaml'), options.config.join('\n'))
  const gateway = await startNodeServer({
    env: { GATEHOUSE_CONFIG: 'gatehouse.yaml', PORT: '0', LOG_LEVEL: 'error', ...options.env },
    cwd,
    stdout: options.stdout ?? (() => {}),
  })
  return Object.assign(gateway, { cwd })
}
