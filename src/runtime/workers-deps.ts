/**
 * Builds `Deps` from a Worker's bindings. Vars and secrets carry the names the Node entry reads from its environment
 * (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `ANTHROPIC_*`, `GATEHOUSE_MASTER_KEY`, `LOG_LEVEL`); a config file, when
 * wanted, comes as a YAML string in `GATEHOUSE_CONFIG_YAML`.
 * https://developers.cloudflare.com/workers/configuration/environment-variables/
 */
import { createMemoryCacheStore } from '../stores/memory/memory-cache-store.ts'
import { loadConfig } from '../../config/load-config.ts'
import { systemClock } from '../core/clock.ts'
import { GatewayError } from '../core/errors.ts'
import { createExecutionLog } from '../core/log-execution-events.ts'
import type { Logger } from '../core/logger.ts'
import { createProviderRegistry } from '../core/provider-registry.ts'
import { resolveConfig } from '../core/resolve-config.ts'
import { createLogUsageSink } from '../core/usage.ts'
import type { Deps } from '../deps.ts'
import type { Authenticator } from '../middleware/authenticate.ts'
import { createMasterKeyAuthenticator } from '../middleware/master-key-authenticator.ts'
import { createFetchTransport } from './fetch-transport.ts'
import type { AssetsBinding } from './workers-assets.ts'
import { createWorkersAssets } from './workers-assets.ts'
import type { LogLevel } from './json-logger.ts'
import { createJsonLogger, readLogLevel } from './json-logger.ts'
import { httpProviderFactories } from './http-provider-factories.ts'
import { providerSecrets, rememberSecrets } from '../../providers/shared/redact-secrets.ts'

/** Bindings as the runtime passes them: strings for vars and secrets, objects for the rest (`ASSETS`). */
export type WorkersEnv = Record<string, unknown> & { ASSETS?: AssetsBinding }

export type WorkersDepsOptions = {
  env: WorkersEnv
  /** Keeps deferred work alive after the response (workerd's `waitUntil`). */
  waitUntil: (promise: Promise<unknown>) => void
  /** Upstream `fetch`; the global one by default. */
  fetch?: typeof fetch
}

/** Either working `Deps`, or what is wrong with the configuration (for the log, never for clients). */
export type WorkersSetup =
  { ok: true; deps: Deps } | { ok: false; errors: string[]; logger: Logger }

const configFileBinding = 'GATEHOUSE_CONFIG_YAML'

/** Binding names whose values are masked in logs even before the config is read. */
const secretName = /(KEY|TOKEN|SECRET|PASSWORD)$/i

export const stringBindings = (env: WorkersEnv): Record<string, string> => {
  const strings: Record<string, string> = {}
  for (const [name, value] of Object.entries(env))
    if (typeof value === 'string') strings[name] = value
  return strings
}

/**
 * JSON lines on the console, which Workers Logs and `wrangler tail` index by field; the console method carries the
 * level. The logger itself (redaction included) is the Node one: only its output differs.
 * https://developers.cloudflare.com/workers/observability/logs/workers-logs/
 */
const writeToConsole = (line: string): void => {
  const text = line.trimEnd()
  if (text.startsWith('{"level":"error"')) console.error(text)
  else if (text.startsWith('{"level":"warn"')) console.warn(text)
  else console.log(text)
}

const createWorkersLogger = (options: { level: LogLevel; secrets: string[] }): Logger =>
  createJsonLogger({ ...options, write: writeToConsole })

/** The Worker's answer to every `/v1` call until the secret is set: 503 in the client's dialect, no retry. */
export const missingMasterKeyAuthenticator: Authenticator = {
  authenticate: () =>
    Promise.reject(
      new GatewayError(
        'unavailable',
        'GATEHOUSE_MASTER_KEY is not set on this Worker (wrangler secret put GATEHOUSE_MASTER_KEY).',
        {
          headers: { 'x-should-retry': 'false' },
        }
      )
    ),
}

export const createWorkersDeps = (options: WorkersDepsOptions): WorkersSetup => {
  const env = stringBindings(options.env)
  const envSecrets = Object.entries(env)
    .filter(([name]) => secretName.test(name))
    .map(([, value]) => value)
  const logLevel = readLogLevel(env.LOG_LEVEL)
  const loaded = loadConfig({ env, fileText: env[configFileBinding], fileName: configFileBinding })
  if (!loaded.ok || logLevel.error !== undefined) {
    const errors = [
      ...(logLevel.error === undefined ? [] : [logLevel.error]),
      ...(loaded.ok ? [] : loaded.errors),
    ]
    return {
      ok: false,
      errors,
      logger: createWorkersLogger({ level: logLevel.level, secrets: envSecrets }),
    }
  }

  const config = resolveConfig(loaded.config)
  const secrets = [
    ...envSecrets,
    ...(config.masterKey === undefined ? [] : [config.masterKey]),
    ...providerSecrets(config.providers),
  ]
  rememberSecrets(secrets)
  const logger = createWorkersLogger({ level: logLevel.level, secrets })
  const transport = createFetchTransport({ fetch: options.fetch })
  const built = createProviderRegistry({
    providers: config.providers,
    factories: httpProviderFactories(() => transport, config),
    runtimeName: 'Workers',
    // The local model runs on Node only: a config shared with Node keeps working here without it.
    elsewhere: ['local'],
  })
  if (!built.ok) return { ok: false, errors: built.errors, logger }
  for (const provider of built.leftOut)
    logger.warn(
      { provider: provider.id, type: provider.type },
      'provider left out: its type runs on Node only; routes and fallbacks skip it here'
    )

  const defer = (work: Promise<unknown>): void => {
    options.waitUntil(
      work.catch((error: unknown) => logger.error({ error }, 'deferred work failed'))
    )
  }
  const usage = createLogUsageSink({ logger, defer })
  const deps: Deps = {
    config,
    providers: built.registry,
    // The prompt cache, when on, is an LRU per isolate (Workers has no Redis client here).
    stores: config.cache.enabled
      ? { cache: createMemoryCacheStore({ clock: systemClock, maxBytes: config.cache.maxBytes }) }
      : {},
    usage,
    observers: [createExecutionLog(logger)],
    // An isolate is never shut down by us: nothing to close. Deferred work rides on `waitUntil`.
    closables: [],
    clock: systemClock,
    logger,
    defer,
    authenticator: config.masterKey
      ? createMasterKeyAuthenticator(config.masterKey)
      : missingMasterKeyAuthenticator,
    assets: createWorkersAssets(options.env.ASSETS),
    isDraining: () => false,
    clientSignal: (request) => request.signal,
  }
  if (!config.masterKey) deps.unready = 'GATEHOUSE_MASTER_KEY is not set'
  return { ok: true, deps }
}
