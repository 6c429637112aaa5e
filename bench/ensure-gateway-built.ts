/**
 * The benchmark runs the gateway as shipped: `bin/gatehouse.js` loads the compiled `dist/`. `npm run bench` builds
 * first and CI's `npm ci` builds through `prepare`; the smoke test calls this so that a local `npm test` after an
 * edit never measures a stale build. Builds (`tsc -p tsconfig.build.json`, what `npm run build` runs) only when
 * `dist/` is missing or older than a source file.
 */
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { spawnPinned } from './spawn-pinned.ts'
import { repositoryRoot } from './start-bench-processes.ts'

const sourceFolders = ['src', 'providers', 'config']
const builtEntry = join(repositoryRoot, 'dist', 'src', 'runtime', 'node.js')

const newestSourceMs = (folder: string): number => {
  let newest = 0
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== '__fixtures__') newest = Math.max(newest, newestSourceMs(path))
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, statSync(path).mtimeMs)
    }
  }
  return newest
}

const builtAtMs = (): number | null => {
  try {
    return statSync(builtEntry).mtimeMs
  } catch {
    return null
  }
}

/** Resolves with whether it had to build; rejects with tsc's output when the build fails. */
export const ensureGatewayBuilt = async (): Promise<{ built: boolean }> => {
  const builtAt = builtAtMs()
  const newest = Math.max(...sourceFolders.map((folder) => newestSourceMs(join(repositoryRoot, folder))))
  if (builtAt !== null && builtAt >= newest) return { built: false }
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const child = spawnPinned({ nodeArgs: [tsc, '-p', 'tsconfig.build.json'], cwd: repositoryRoot, env: process.env })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`npm run build (tsc -p tsconfig.build.json) failed:\n${output.slice(-4_000)}`)
  return { built: true }
}
