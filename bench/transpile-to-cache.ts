/**
 * Strips the types from a self-contained benchmark script (no relative imports) into `node_modules/.cache`, so it
 * runs on plain `node`. The reference proxy runs this way: under `--import tsx` it carried the loader's extra thread
 * and about 25 MiB of resident memory, which would flatter the gateway's memory figures beside it.
 * https://www.typescriptlang.org/docs/handbook/compiler-options.html (transpileModule: one file, no type check)
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import typescript from 'typescript'

const cacheDirectory = fileURLToPath(
  new URL('../node_modules/.cache/gatehouse-bench/', import.meta.url)
)

/**
 * Returns the `.mjs` path; packages it imports resolve from the repository's `node_modules`. Written through a
 * rename, so a concurrent run (the smoke test beside `npm run bench`) never starts a half-written file.
 */
export const transpileToCache = (sourcePath: string): string => {
  const { outputText } = typescript.transpileModule(readFileSync(sourcePath, 'utf8'), {
    fileName: sourcePath,
    compilerOptions: {
      module: typescript.ModuleKind.ESNext,
      target: typescript.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  })
  mkdirSync(cacheDirectory, { recursive: true })
  const outFile = join(cacheDirectory, basename(sourcePath).replace(/\.ts$/, '.mjs'))
  const temporary = `${outFile}.${process.pid}.tmp`
  writeFileSync(temporary, outputText)
  renameSync(temporary, outFile)
  return outFile
}
