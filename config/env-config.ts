/**
 * The configuration the environment alone implies, so `OPENAI_API_KEY=... npx gatehouse` works without a file.
 * The same names come from process.env on Node and from bindings on Workers; this module only sees a plain map.
 * Where a file sets the same option, the file wins (see load-config.ts).
 */

export type EnvConfig = {
  /** Partial, unvalidated config in the file's shape: validated together with the file. */
  config: Record<string, unknown>
  /** `env.NAME: message` for values that cannot be read. */
  errors: string[]
}

/** An empty variable counts as unset: env files and `docker run -e NAME=` routinely produce them. */
const readVariable = (
  env: Record<string, string | undefined>,
  name: string
): string | undefined => {
  const value = env[name]
  return value === undefined || value === '' ? undefined : value
}

const providerFromEnv = (options: {
  env: Record<string, string | undefined>
  type: 'openai' | 'anthropic'
  keyVariable: string
  urlVariable: string
}): Record<string, unknown> | undefined => {
  const apiKey = readVariable(options.env, options.keyVariable)
  const baseUrl = readVariable(options.env, options.urlVariable)
  if (apiKey === undefined && baseUrl === undefined) return undefined
  const provider: Record<string, unknown> = { type: options.type }
  if (apiKey !== undefined) provider.apiKey = apiKey
  if (baseUrl !== undefined) provider.baseUrl = baseUrl
  return provider
}

export const envConfig = (env: Record<string, string | undefined>): EnvConfig => {
  const errors: string[] = []
  const config: Record<string, unknown> = {}

  const providers: Record<string, unknown> = {}
  const openai = providerFromEnv({
    env,
    type: 'openai',
    keyVariable: 'OPENAI_API_KEY',
    urlVariable: 'OPENAI_BASE_URL',
  })
  if (openai) providers.openai = openai
  const anthropic = providerFromEnv({
    env,
    type: 'anthropic',
    keyVariable: 'ANTHROPIC_API_KEY',
    urlVariable: 'ANTHROPIC_BASE_URL',
  })
  if (anthropic) providers.anthropic = anthropic
  if (Object.keys(providers).length > 0) config.providers = providers

  const masterKey = readVariable(env, 'GATEHOUSE_MASTER_KEY')
  if (masterKey !== undefined) config.auth = { masterKey }

  const databaseUrl = readVariable(env, 'DATABASE_URL')
  if (databaseUrl !== undefined) config.database = { url: databaseUrl }
  const redisUrl = readVariable(env, 'REDIS_URL')
  if (redisUrl !== undefined) config.redis = { url: redisUrl }

  const usageLog = readVariable(env, 'USAGE_LOG')
  if (usageLog !== undefined) {
    if (usageLog === 'true' || usageLog === 'false') config.usage = { log: usageLog === 'true' }
    else errors.push(`env.USAGE_LOG: expected true or false, got "${usageLog}"`)
  }

  const server: Record<string, unknown> = {}
  const host = readVariable(env, 'HOST')
  if (host !== undefined) server.host = host
  const port = readVariable(env, 'PORT')
  if (port !== undefined) {
    if (/^\d{1,5}$/.test(port) && Number(port) <= 65535) server.port = Number(port)
    else errors.push(`env.PORT: expected an integer from 0 to 65535, got "${port}"`)
  }
  if (Object.keys(server).length > 0) config.server = server

  return { config, errors }
}
