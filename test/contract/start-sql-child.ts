/** Starts `sql-child-process.ts` (another process on the same database) and drives it: ready, go, result. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export type SqlChild = {
  /** Resolves once the child has opened the database. */
  ready: Promise<void>
  go(): void
  /** The command's result, parsed; rejects with the child's standard error when it fails. */
  result: Promise<unknown>
}

const script = fileURLToPath(new URL('./sql-child-process.ts', import.meta.url))

export const startSqlChild = (options: {
  command: 'migrate' | 'record' | 'put-responses' | 'claim-settlements' | 'take-polls'
  url: string
  payload?: unknown
}): SqlChild => {
  const child = spawn(process.execPath, ['--import', 'tsx', script, options.command, options.url], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    if (stdout.startsWith('ready\n')) markReady()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const result = new Promise<unknown>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => {
      const lines = stdout.trim().split('\n')
      if (code === 0 && lines.length === 2) resolve(JSON.parse(lines[1]))
      else reject(new Error(`the ${options.command} child exited with ${code}:\n${stderr}`))
    })
  })
  // A child that dies before `ready` must not leave the test waiting for it.
  result.catch(() => markReady())
  if (options.payload !== undefined) child.stdin.write(`${JSON.stringify(options.payload)}\n`)
  return { ready, go: () => child.stdin.write('go\n'), result }
}
