/**
 * The model worker's module, beside this one: `.js` once built. Running from source (the tests, `tsx` in development)
 * it is `.ts`, which a worker thread cannot load by itself (`execArgv: ['--import', 'tsx']` is not applied to workers
 * on Node 20): a small ES module registers tsx's loader in the thread first, then imports it (as
 * src/runtime/threaded-usage-writer.ts does for its own worker).
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

export const localWorkerEntry = (): URL => {
  if (!import.meta.url.endsWith('.ts')) return new URL('./local-model-worker.js', import.meta.url)
  const tsxApi = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs')
  const entry = new URL('./local-model-worker.ts', import.meta.url)
  const boot = [
    `import { register } from ${JSON.stringify(pathToFileURL(tsxApi).href)}`,
    'register()',
    `await import(${JSON.stringify(entry.href)})`,
  ].join('\n')
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`)
}
