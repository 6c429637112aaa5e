/**
 * The provider only Node can build: the local model (`providers/local/`), whose worker threads run onnxruntime-node.
 * Its model directory is resolved against the gateway's working directory, as `./data` is.
 */
import { resolve } from 'node:path'
import { createLocalAdapter } from '../../providers/local/local-adapter.ts'
import type { ProviderFactories } from '../core/provider-registry.ts'
import { defaultLocalProvider } from '../core/resolve-config.ts'

export const localProviderFactories = (options: { cwd: string }): ProviderFactories => ({
  local: (provider) => {
    const local = provider.local ?? { ...defaultLocalProvider, models: null }
    return createLocalAdapter({
      id: provider.id,
      directory: resolve(options.cwd, local.directory),
      models: local.models,
      workers: local.workers,
      intraOpNumThreads: local.intraOpNumThreads,
      dtype: local.dtype,
    })
  },
})
