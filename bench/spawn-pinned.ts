/**
 * Child processes of the benchmark, each optionally pinned to one CPU core with `taskset -c` (util-linux), so the
 * gateway gets a core of its own and the load generator and the mock share the other. Every child is tracked and
 * killed when the parent exits, however it exits: a stray gateway left on a core would skew the next run.
 * https://man7.org/linux/man-pages/man1/taskset.1.html
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess, StdioOptions } from 'node:child_process'
import { availableParallelism } from 'node:os'

const children = new Set<ChildProcess>()
let exitHookInstalled = false

/** SIGKILLs every child still running; installed on `exit`, and by `run-bench.ts` for SIGINT/SIGTERM. */
export const killAllChildren = (): void => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
}

let pinning: { available: boolean; reason: string } | undefined

/**
 * Whether `taskset` can pin to cores 0 and 1. Without it (not installed, or a single core) the benchmark still runs,
 * unpinned, and says so: the gateway then competes with the load generator for CPU.
 */
export const checkPinning = (): { available: boolean; reason: string } => {
  if (pinning !== undefined) return pinning
  if (availableParallelism() < 2) {
    pinning = { available: false, reason: `only ${availableParallelism()} CPU core available` }
    return pinning
  }
  const probe = spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' })
  pinning =
    probe.error !== undefined || probe.status !== 0
      ? {
          available: false,
          reason: `taskset unusable (${probe.error?.message ?? `exit ${probe.status}`})`,
        }
      : { available: true, reason: 'taskset' }
  return pinning
}

export type SpawnPinnedOptions = {
  /** Everything after `node`: flags, the script, its arguments. */
  nodeArgs: string[]
  /** CPU core for `taskset -c`; ignored (with the warning printed once by the caller) when pinning is unavailable. */
  core?: 0 | 1
  env?: Record<string, string | undefined>
  cwd?: string
  stdio?: StdioOptions
  /** A command Node runs under (`valgrind --tool=callgrind ...`), which must keep its pid: valgrind does. */
  wrapper?: readonly string[]
}

/** Spawns `node <nodeArgs>` (through `taskset` when pinned); the pid is Node's own, since taskset execs it. */
export const spawnPinned = (options: SpawnPinnedOptions): ChildProcess => {
  if (!exitHookInstalled) {
    process.on('exit', killAllChildren)
    exitHookInstalled = true
  }
  const pinned = options.core !== undefined && checkPinning().available
  const node = [...(options.wrapper ?? []), process.execPath, ...options.nodeArgs]
  const command = pinned ? 'taskset' : node[0]
  const args = pinned ? ['-c', String(options.core), ...node] : node.slice(1)
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Kills one child and waits for it to be gone (SIGTERM, then SIGKILL after `graceMs`). */
export const stopChild = async (child: ChildProcess, graceMs = 2_000): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Waits for the first stdout line that parses as JSON (how the bench's own children report readiness and results). */
export const readJsonLine = <T>(child: ChildProcess, timeoutMs: number): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    let buffered = ''
    let stderr = ''
    const fail = (message: string): void => {
      cleanup()
      reject(
        new Error(
          `${message}${stderr === '' ? '' : `\n--- child stderr ---\n${stderr.slice(-4_000)}`}`
        )
      )
    }
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8')
      let newline = buffered.indexOf('\n')
      while (newline !== -1) {
        const line = buffered.slice(0, newline).trim()
        buffered = buffered.slice(newline + 1)
        if (line.startsWith('{')) {
          try {
            const value = JSON.parse(line) as T
            cleanup()
            resolve(value)
            return
          } catch {
            // A log line that merely starts with `{`: the report is still to come.
          }
        }
        newline = buffered.indexOf('\n')
      }
    }
    const onStderr = (chunk: Buffer): void => {
      stderr += chunk.toString('utf8')
    }
    const onExit = (code: number | null, signal: string | null): void =>
      fail(`child exited (${signal ?? `code ${code}`}) before reporting`)
    const timer = setTimeout(() => fail(`child did not report within ${timeoutMs} ms`), timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onStderr)
      child.off('exit', onExit)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onStderr)
    child.once('exit', onExit)
  })
