/**
 * The config as Node reads it: `LOG_LEVEL`, the YAML file named by `GATEHOUSE_CONFIG` (relative to `cwd`) and the
 * environment, validated and given their defaults. Every problem is reported at once, as a `StartupError`. Used by
 * each gateway process (`node-deps.ts`) and by the primary of `serve --workers` before it forks any.
 *
 * With no provider configured at all, and a `models/` folder under `cwd` that holds a model, it serves those models
 * (`withOfflineDefault`): the loader itself stays pure, so this runtime looks at the folder. Without one, the gateway
 * starts with no provider and says so.
 */
import { readFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { loadConfig } from '../../config/load-config.ts'
import { hasNoProvider, withOfflineDefault } from '../../config/with-offline-default.ts'
import { holdsLocalModels } from '../../providers/local/find-local-models.ts'
import { defaultLocalProvider, resolveConfig, type ResolvedConfig } from '../core/resolve-config.ts'
import { readLogLevel, type LogLevel } from './json-logger.ts'
import { StartupError } from './startup-error.ts'

export type NodeConfig = {
  config: ResolvedConfig
  logLevel: LogLevel
  /** No provider was configured: the local models under this folder are served (`withOfflineDefault`). */
  offlineModels: string | null
}

const readConfigFile = (options: {
  path: string | undefined
  cwd: string
}): { text?: string; error?: string } => {
  if (options.path === undefined || options.path === '') return {}
  const file = isAbsolute(options.path) ? options.path : join(options.cwd, options.path)
  try {
    return { text: readFileSync(file, 'utf8') }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return {
      error: `env.GATEHOUSE_CONFIG: cannot read ${file}${code === undefined ? '' : ` (${code})`}`,
    }
  }
}

/** Throws `StartupError` listing every problem with the environment and the config file. */
export const loadNodeConfig = (options: {
  env: Record<string, string | undefined>
  cwd: string
}): NodeConfig => {
  const { env, cwd } = options
  const logLevel = readLogLevel(env.LOG_LEVEL)
  const file = readConfigFile({ path: env.GATEHOUSE_CONFIG, cwd })
  const earlyErrors = [logLevel.error, file.error].filter(
    (error): error is string => error !== undefined
  )
  if (file.error !== undefined) throw new StartupError(earlyErrors)
  const loaded = loadConfig({ env, fileText: file.text, fileName: env.GATEHOUSE_CONFIG })
  if (!loaded.ok || earlyErrors.length > 0)
    throw new StartupError([...earlyErrors, ...(loaded.ok ? [] : loaded.errors)])
  const models = resolve(cwd, defaultLocalProvider.directory)
  const offline = hasNoProvider(loaded.config) && holdsLocalModels(models)
  return {
    config: resolveConfig(offline ? withOfflineDefault(loaded.config) : loaded.config),
    logLevel: logLevel.level,
    offlineModels: offline ? models : null,
  }
}
