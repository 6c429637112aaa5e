/**
 * A boot module for a test's local model worker: it registers tsx (the worker is TypeScript), runs the test's own
 * `lines` (a hook on the thread, a listener on a `BroadcastChannel`), then loads the real worker
 * (`providers/local/local-model-worker.ts`). Returned as a `data:` URL for `new Worker(url, { workerData })`.
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

export const localWorkerBootUrl = (lines: readonly string[]): URL => {
  const tsxApi = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs')
  const worker = new URL('../../providers/local/local-model-worker.ts', import.meta.url)
  const boot = [
    `import { register } from ${JSON.stringify(pathToFileURL(tsxApi).href)}`,
    'register()',
    ...lines,
    `await import(${JSON.stringify(worker.href)})`,
  ].join('\n')
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`)
}
