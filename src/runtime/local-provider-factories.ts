/**
 * The provider only Node can build: the local model (`providers/local/`), whose worker threads run onnxruntime-node.
 * Its model directory is resolved against the gateway's working directory, as `./data` is; it logs the models it
 * loaded, version switches, and its worker threads' crashes and replacements, through the gateway's logger, and hands
 * each call's inference report to the execution observers (event `inference`).
 */
import { resolve } from 'node:path'
import { createLocalAdapter } from '../../providers/local/local-adapter.ts'
import type { ExecutionObserver } from '../core/execution-observer.ts'
import type { Logger } from '../core/logger.ts'
import type { ProviderFactories } from '../core/provider-registry.ts'
import { defaultLocalProvider } from '../core/resolve-config.ts'

export const localProviderFactories = (options: {
  cwd: string
  logger: Logger
  /** Where inference reports go (the app's observers, fanned out). */
  observer?: ExecutionObserver
}): ProviderFactories => ({
  local: (provider) => {
    const local = provider.local ?? { ...defaultLocalProvider, models: null }
    return createLocalAdapter({
      id: provider.id,
      directory: resolve(options.cwd, local.directory),
      models: local.models,
      workers: local.workers,
      intraOpNumThreads: local.intraOpNumThreads,
      maxBatch: local.maxBatch,
      streamIntervalMs: local.streamIntervalMs,
      dtype: local.dtype,
      versions: local.versions,
      dtypes: local.dtypes,
      log: options.logger,
      report:
        options.observer === undefined
          ? undefined
          : (report) => options.observer!.observe({ type: 'inference', ...report }),
    })
  },
})
