/**
 * The provider only Node can build: the local model (`providers/local/`), whose worker threads run onnxruntime-node.
 * Its model directory is resolved against the gateway's working directory, as `./data` is; it logs the models it
 * loaded, and its worker threads' crashes and replacements, through the gateway's logger.
 */
import { resolve } from 'node:path'
import { createLocalAdapter } from '../../providers/local/local-adapter.ts'
import type { Logger } from '../core/logger.ts'
import type { ProviderFactories } from '../core/provider-registry.ts'
import { defaultLocalProvider } from '../core/resolve-config.ts'

export const localProviderFactories = (options: {
  cwd: string
  logger: Logger
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
      dtype: local.dtype,
      log: options.logger,
    })
  },
})
