/**
 * The `gatehouse` command (a bin built by `buildPrivateBin`) as a child process, with what a test reads from it: its
 * output so far, a wait for a line in stdout, how it exited. The environment is minimal on purpose: keys and URLs from
 * the developer's shell must not leak into the server under test. The caller kills what it started
 * (`stopGatehouse`).
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

export type GatehouseExit = { code: number | null; signal: NodeJS.Signals | null }

export type GatehouseProcess = {
  child: ChildProcessWithoutNullStreams
  output: { stdout: string; stderr: string }
  /** Resolves with the first match in stdout (rejects if the process exits first). */
  waitForStdout(pattern: RegExp): Promise<RegExpMatchArray>
  exited: Promise<GatehouseExit>
}

export const spawnGatehouse = (options: {
  bin: string
  cwd: string
  env: Record<string, string>
  /** Default: `serve`. */
  args?: string[]
}): GatehouseProcess => {
  const child = spawn(process.execPath, [options.bin, ...(options.args ?? ['serve'])], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', SCARF_ANALYTICS: 'false', ...options.env },
  })
  const output = { stdout: '', stderr: '' }
  const watchers: (() => void)[] = []
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk
    for (const watcher of [...watchers]) watcher()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk))
  const exited = new Promise<GatehouseExit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal }))
  )
  return {
    child,
    output,
    exited,
    waitForStdout: (pattern) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(output.stdout)
          if (match) {
            watchers.splice(watchers.indexOf(check), 1)
            resolve(match)
          }
        }
        watchers.push(check)
        check()
        void exited.then(() =>
          reject(
            new Error(
              `gatehouse exited before printing ${pattern}:\n${output.stdout}\n${output.stderr}`
            )
          )
        )
      }),
  }
}

/** The URL from the `Gatehouse listening on …` line. */
export const gatehouseListening = async (gatehouse: GatehouseProcess): Promise<string> =>
  (await gatehouse.waitForStdout(/Gatehouse listening on (http:\/\/\S+)/))[1]

/** Kills a process that is still running (SIGKILL) and waits for it to go. */
export const stopGatehouse = async (gatehouse: GatehouseProcess): Promise<void> => {
  if (gatehouse.child.exitCode === null && gatehouse.child.signalCode === null)
    gatehouse.child.kill('SIGKILL')
  await gatehouse.exited
}

/** The JSON log lines printed so far (`{...}` lines of stdout; the terminal's own lines are skipped). */
export const gatehouseLogLines = (gatehouse: GatehouseProcess): Record<string, unknown>[] =>
  gatehouse.output.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
