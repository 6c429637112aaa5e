/**
 * Turns the YAML file (optional) and the environment into a validated `GatewayConfig`, or into the full list of
 * problems, each as `path: message`, so an operator fixes every mistake in one pass instead of one per restart.
 * Pure (no fs, no process): the Node entry reads the file, the Workers entry passes `GATEHOUSE_CONFIG_YAML`.
 *
 * `${VAR}` and `${VAR:-default}` are expanded in string values (`$${` writes a literal `${`). An unquoted value that
 * is exactly one reference takes the type of what it expands to (`port: ${PORT}` → number); quote it to keep a string.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml'
import type { z } from 'zod'
import { configSchema } from './config-schema.ts'
import type { GatewayConfig } from './config-schema.ts'
import { envConfig } from './env-config.ts'

export type LoadConfigOptions = {
  env: Record<string, string | undefined>
  /** The YAML text; absent = configuration from the environment only. */
  fileText?: string
  /** Shown in YAML syntax errors (`gatehouse.yaml:3:7: ...`). */
  fileName?: string
}

export type LoadConfigResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] }

type Path = readonly (string | number)[]

const identifier = /^[A-Za-z_][A-Za-z0-9_-]*$/

export const formatPath = (path: Path): string => {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (identifier.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out === '' ? '(root)' : out
}

const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/

type Expansion = { value: string; errors: string[]; wholeReference: boolean }

/** Shell semantics: `${VAR:-default}` uses the default when VAR is unset or empty; `${VAR}` requires VAR to be set. */
const expand = (text: string, env: Record<string, string | undefined>, path: Path): Expansion => {
  const errors: string[] = []
  let value = ''
  let references = 0
  let index = 0
  while (index < text.length) {
    if (text.startsWith('$${', index)) {
      value += '${'
      index += 3
      continue
    }
    if (!text.startsWith('${', index)) {
      value += text[index]
      index += 1
      continue
    }
    const end = text.indexOf('}', index + 2)
    if (end === -1) {
      errors.push(`${formatPath(path)}: unterminated "\${" (write "$\${" for a literal "\${")`)
      return { value: text, errors, wholeReference: false }
    }
    const expression = text.slice(index + 2, end)
    const separator = expression.indexOf(':-')
    const name = separator === -1 ? expression : expression.slice(0, separator)
    references += 1
    if (!variableName.test(name)) {
      errors.push(`${formatPath(path)}: invalid variable reference "\${${expression}}"`)
    } else if (separator !== -1) {
      const current = env[name]
      value += current === undefined || current === '' ? expression.slice(separator + 2) : current
    } else if (env[name] === undefined) {
      errors.push(
        `${formatPath(path)}: environment variable ${name} is not set (use \${${name}:-default} for a default)`
      )
    } else {
      value += env[name]
    }
    index = end + 1
  }
  const wholeReference = references === 1 && /^\$\{[^}]*\}$/.test(text)
  return { value, errors, wholeReference }
}

const typedScalar = (text: string): string | number | boolean => {
  if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(text)) return Number(text)
  if (text === 'true') return true
  if (text === 'false') return false
  return text
}

type Interpolation = {
  node: unknown
  env: Record<string, string | undefined>
  path: Path
  errors: string[]
  /** Values whose references failed: schema errors about them would only repeat the problem. */
  unresolved: Path[]
}

/** Expands references in place in every string value of the document (keys stay literal). */
const interpolateNode = (state: Interpolation): void => {
  const { node, path } = state
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
      interpolateNode({ ...state, node: pair.value, path: [...path, key] })
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) =>
      interpolateNode({ ...state, node: item, path: [...path, index] })
    )
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const expansion = expand(node.value, state.env, path)
    if (expansion.errors.length > 0) {
      state.errors.push(...expansion.errors)
      state.unresolved.push(path)
    }
    node.value =
      expansion.wholeReference && node.type === 'PLAIN'
        ? typedScalar(expansion.value)
        : expansion.value
  }
}

type ParsedFile =
  | { ok: true; value: unknown; errors: string[]; unresolved: Path[] }
  | { ok: false; errors: string[] }

const parseFile = (options: LoadConfigOptions): ParsedFile => {
  const lineCounter = new LineCounter()
  const document = parseDocument(options.fileText ?? '', { lineCounter, prettyErrors: false })
  // Only the first syntax error: the ones after it are usually its echoes.
  if (document.errors.length > 0) {
    const [error] = document.errors
    const { line, col } = lineCounter.linePos(error.pos[0])
    return {
      ok: false,
      errors: [`${options.fileName ?? 'config'}:${line}:${col}: ${error.message.split('\n')[0]}`],
    }
  }
  const errors: string[] = []
  const unresolved: Path[] = []
  interpolateNode({ node: document.contents, env: options.env, path: [], errors, unresolved })
  return { ok: true, value: document.toJS() ?? {}, errors, unresolved }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Deep merge of plain objects: `overrides` wins wherever it sets a value; arrays are replaced, not merged.
 * A YAML key left empty (`server:` with every option commented out) is `null`: it counts as not set.
 */
const mergeDefaults = (defaults: unknown, overrides: unknown): unknown => {
  if (overrides === null || overrides === undefined) return defaults
  if (!isPlainObject(overrides)) return overrides
  const base = isPlainObject(defaults) ? defaults : {}
  const merged: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(overrides)) {
    const mergedValue = mergeDefaults(base[key], value)
    if (mergedValue === undefined || mergedValue === null) delete merged[key]
    else merged[key] = mergedValue
  }
  return merged
}

const formatIssue = (issue: z.core.$ZodIssue): string[] => {
  const path = issue.path.filter(
    (segment): segment is string | number => typeof segment !== 'symbol'
  )
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => `${formatPath([...path, key])}: unknown option`)
  if (issue.code === 'invalid_key') {
    const reason = issue.issues.map((inner) => inner.message).join('; ')
    return [`${formatPath(path)}: invalid name (${reason})`]
  }
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) {
    return [`${formatPath(path)}: required (expected ${issue.expected})`]
  }
  return [`${formatPath(path)}: ${issue.message}`]
}

/** Options of the in-process model only, and HTTP options it has no use for. */
const localOnlyOptions = [
  'directory',
  'workers',
  'intraOpNumThreads',
  'maxBatch',
  'streamIntervalMs',
  'dtype',
  'versions',
  'dtypes',
]
const httpOnlyOptions = ['apiKey', 'baseUrl', 'headers', 'compat', 'pool']

/** A model folder's name, as clients write it after `local/`: one path segment, never `.` or `..`. */
const localModelName = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/

/** Options that belong to another kind of provider are mistakes, not silently ignored settings. */
const checkLocalOptions = (id: string, provider: Record<string, unknown>): string[] => {
  const errors: string[] = []
  const isLocal = provider.type === 'local'
  for (const option of isLocal ? httpOnlyOptions : localOnlyOptions) {
    if (provider[option] !== undefined)
      errors.push(
        `${formatPath(['providers', id, option])}: ${isLocal ? 'not an option of type local' : 'only for type local'}`
      )
  }
  if (isLocal && Array.isArray(provider.models)) {
    provider.models.forEach((name: unknown, index) => {
      if (typeof name === 'string' && !localModelName.test(name))
        errors.push(
          `${formatPath(['providers', id, 'models', index])}: "${name}" is not a model folder name (letters, digits, ., - and _)`
        )
    })
  }
  if (isLocal && isPlainObject(provider.versions)) {
    for (const [name, version] of Object.entries(provider.versions)) {
      const path = formatPath(['providers', id, 'versions', name])
      if (!localModelName.test(name))
        errors.push(`${path}: "${name}" is not a model folder name (letters, digits, ., - and _)`)
      else if (typeof version === 'string' && !localModelName.test(version))
        errors.push(
          `${path}: "${version}" is not a version folder name (letters, digits, ., - and _: "2", "2025-06-01")`
        )
      else if (Array.isArray(provider.models) && !provider.models.includes(name))
        errors.push(`${path}: not one of the provider's models (${provider.models.join(', ')})`)
    }
  }
  if (isLocal && isPlainObject(provider.dtypes)) {
    for (const name of Object.keys(provider.dtypes)) {
      const path = formatPath(['providers', id, 'dtypes', name])
      if (!localModelName.test(name))
        errors.push(`${path}: "${name}" is not a model folder name (letters, digits, ., - and _)`)
      else if (Array.isArray(provider.models) && !provider.models.includes(name))
        errors.push(`${path}: not one of the provider's models (${provider.models.join(', ')})`)
    }
  }
  return errors
}

const describeNames = (names: string[]): string =>
  names.length === 0 ? 'none configured' : `configured: ${names.join(', ')}`

/** Checks that need the whole config: names that refer to each other. Reads defensively (runs before the schema passes). */
const crossCheck = (raw: Record<string, unknown>): string[] => {
  const errors: string[] = []
  const providers = isPlainObject(raw.providers) ? raw.providers : {}
  const providerNames = Object.keys(providers)
  const checkProviderName = (path: Path, name: unknown): void => {
    if (typeof name === 'string' && name !== '' && !providerNames.includes(name)) {
      errors.push(
        `${formatPath(path)}: unknown provider "${name}" (${describeNames(providerNames)})`
      )
    }
  }

  for (const [id, provider] of Object.entries(providers)) {
    if (!isPlainObject(provider)) continue
    if (provider.type === 'openai-compatible' && provider.baseUrl === undefined) {
      errors.push(
        `${formatPath(['providers', id, 'baseUrl'])}: required for type openai-compatible`
      )
    }
    errors.push(...checkLocalOptions(id, provider))
  }

  const firstIndexByName = new Map<string, number>()
  const routes = Array.isArray(raw.routes) ? raw.routes : []
  routes.forEach((route: unknown, routeIndex) => {
    if (!isPlainObject(route)) return
    if (typeof route.name === 'string') {
      const first = firstIndexByName.get(route.name)
      if (first === undefined) firstIndexByName.set(route.name, routeIndex)
      else
        errors.push(
          `routes[${routeIndex}].name: duplicate route name "${route.name}" (also routes[${first}])`
        )
    }
    if (isPlainObject(route.shortRequests))
      checkProviderName(
        ['routes', routeIndex, 'shortRequests', 'provider'],
        route.shortRequests.provider
      )
    if (!Array.isArray(route.targets)) return
    route.targets.forEach((target: unknown, targetIndex) => {
      if (isPlainObject(target)) {
        checkProviderName(
          ['routes', routeIndex, 'targets', targetIndex, 'provider'],
          target.provider
        )
      }
    })
  })

  const fallbacks = Array.isArray(raw.fallbacks) ? raw.fallbacks : []
  fallbacks.forEach((target: unknown, index) => {
    if (isPlainObject(target)) checkProviderName(['fallbacks', index, 'provider'], target.provider)
  })

  const cache = isPlainObject(raw.cache) ? raw.cache : {}
  const redis = isPlainObject(raw.redis) ? raw.redis : {}
  if (cache.backend === 'redis' && typeof redis.url !== 'string') {
    errors.push(`cache.backend: redis needs redis.url (or REDIS_URL)`)
  }

  if (isPlainObject(raw.defaultProvider)) {
    for (const [dialect, name] of Object.entries(raw.defaultProvider)) {
      checkProviderName(['defaultProvider', dialect], name)
    }
  }
  return errors
}

const isWithin = (path: Path, ancestor: Path): boolean =>
  ancestor.length <= path.length && ancestor.every((segment, index) => path[index] === segment)

export const loadConfig = (options: LoadConfigOptions): LoadConfigResult => {
  const fromEnv = envConfig(options.env)
  const file = parseFile(options)
  if (!file.ok) return { ok: false, errors: [...fromEnv.errors, ...file.errors] }

  const merged = mergeDefaults(fromEnv.config, file.value)
  const errors = [...fromEnv.errors, ...file.errors]
  const parsed = configSchema.safeParse(merged)
  if (!parsed.success) {
    const issues = parsed.error.issues.filter(
      (issue) => !file.unresolved.some((path) => isWithin(issue.path as Path, path))
    )
    errors.push(...issues.flatMap(formatIssue))
  }
  if (isPlainObject(merged)) errors.push(...crossCheck(merged))
  if (errors.length > 0 || !parsed.success) return { ok: false, errors }
  return { ok: true, config: parsed.data }
}
