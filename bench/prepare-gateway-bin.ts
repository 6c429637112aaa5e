/**
 * The smoke test runs the gateway as shipped (`bin/gatehouse.js` over the output of `npm run build`), and must never
 * measure a stale build. When the shared `dist/` is newer than every source file (CI, where `npm ci` just built it),
 * it is used as is. Otherwise (a local run after an edit) the real build (`tsc -p tsconfig.build.json`) goes into a
 * private, incremental directory under `node_modules/.cache`, so packages still resolve from the repository's
 * `node_modules`, beside copies of the bin and `package.json`: the shared `dist/` is neither trusted nor rewritten
 * while another test may be starting a server from it (as `test/integration/node-server.test.ts` does, in its own
 * directory).
 */
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnPinned } from './spawn-pinned.ts'
import { repositoryRoot } from './start-bench-processes.ts'

const sourceFolders = ['src', 'providers', 'config']

const newestSourceMs = (folder: string): number => {
  let newest = 0
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMs(path))
    else if (!entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

const modifiedMs = (path: string): number | null => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return null
  }
}

/**
 * tsc exits 2 when it emitted despite type errors (someone else's file mid-edit): the output is still what the build
 * ships. Any other failure rejects with tsc's output.
 * https://github.com/microsoft/TypeScript/blob/main/src/compiler/types.ts (`ExitStatus`)
 */
const buildInto = async (directory: string): Promise<void> => {
  const child = spawnPinned({
    nodeArgs: [
      join(repositoryRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      join(directory, 'dist'),
      '--incremental',
      '--tsBuildInfoFile',
      join(directory, 'build.tsbuildinfo'),
    ],
    cwd: repositoryRoot,
    env: process.env,
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0 && code !== 2)
    throw new Error(`the build (tsc -p tsconfig.build.json) failed:\n${output.slice(-4_000)}`)
  mkdirSync(join(directory, 'bin'), { recursive: true })
  copyFileSync(join(repositoryRoot, 'bin', 'gatehouse.js'), join(directory, 'bin', 'gatehouse.js'))
  copyFileSync(join(repositoryRoot, 'package.json'), join(directory, 'package.json'))
}

/**
 * The repository's own `bin/gatehouse.js` when its `dist/` is newer than every source file (CI, where `npm ci` has just
 * built it), else `null`: then a test must build its own.
 */
export const freshRepositoryBin = (): string | null => {
  const builtAt = modifiedMs(join(repositoryRoot, 'dist', 'src', 'runtime', 'node.js'))
  const newest = Math.max(
    ...sourceFolders.map((folder) => newestSourceMs(join(repositoryRoot, folder)))
  )
  return builtAt !== null && builtAt > newest ? join(repositoryRoot, 'bin', 'gatehouse.js') : null
}

/** Resolves with the CLI to start: the repository's own when `dist/` is fresh, else a private build's copy. */
export const prepareGatewayBin = async (options: {
  cacheName: string
}): Promise<{ bin: string; built: boolean }> => {
  const fresh = freshRepositoryBin()
  if (fresh !== null) return { bin: fresh, built: false }
  // Worktrees may share one `node_modules` (a symlink): each checkout builds into a directory of its own.
  const checkout = createHash('sha256').update(repositoryRoot).digest('hex').slice(0, 12)
  const directory = join(
    repositoryRoot,
    'node_modules',
    '.cache',
    `${options.cacheName}-${checkout}`
  )
  await buildInto(directory)
  return { bin: join(directory, 'bin', 'gatehouse.js'), built: true }
}
