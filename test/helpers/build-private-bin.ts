/**
 * Builds the `gatehouse` command as users get it (`tsc -p tsconfig.build.json`, then `bin/gatehouse.js` beside its
 * `dist/`) into a folder of its own under `node_modules/.cache`, so a test can run the real CLI as a child process
 * without touching the repository's `dist/`. Incremental: a rebuild with nothing changed takes a second or two.
 * Each test file gets its own folder (`name`), since test files build at the same time.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freshRepositoryBin } from '../../bench/prepare-gateway-bin.ts'

const repository = fileURLToPath(new URL('../../', import.meta.url))

/**
 * Answers the path of the built `bin/gatehouse.js`; throws with tsc's output when `needs` was not emitted. When the
 * repository's `dist/` is newer than every source (CI, right after `npm ci` built it) its own bin is used as it is,
 * as the smoke test does, rather than compiling the same sources again for each test file.
 */
export const buildPrivateBin = (options: {
  name: string
  /** A file under the build's `dist/` the test cannot run without (type errors do not stop tsc emitting). */
  needs: string
}): string => {
  const fresh = freshRepositoryBin()
  if (fresh !== null && existsSync(join(repository, 'dist', options.needs))) return fresh
  const buildDirectory = join(repository, 'node_modules', '.cache', options.name)
  const build = spawnSync(
    process.execPath,
    [
      join(repository, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      join(buildDirectory, 'dist'),
      '--incremental',
      '--tsBuildInfoFile',
      join(buildDirectory, 'build.tsbuildinfo'),
    ],
    { cwd: repository, encoding: 'utf8' }
  )
  if (!existsSync(join(buildDirectory, 'dist', options.needs)))
    throw new Error(`build failed:\n${build.stdout}\n${build.stderr}`)
  const bin = join(buildDirectory, 'bin', 'gatehouse.js')
  mkdirSync(join(buildDirectory, 'bin'), { recursive: true })
  copyFileSync(join(repository, 'bin', 'gatehouse.js'), bin)
  copyFileSync(join(repository, 'package.json'), join(buildDirectory, 'package.json'))
  return bin
}
