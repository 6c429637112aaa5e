/**
 * One JSON line per entry on stdout (`level`, `time` in epoch ms, `msg`, then the fields), the shape log shippers
 * read without configuration. Redaction: fields named like a credential are masked whole; the configured keys, and
 * strings that look like a provider key, a bearer token or a Gatehouse key, are masked wherever they appear (an
 * upstream message echoing a key, an error). A line is written for every request, so the common case is one plain
 * `JSON.stringify` of flat fields whose names are not credential-like, checked as a whole for a configured key or a
 * key-like string: only a line that fails a check, or fields that are not flat (errors, nested objects), pay for the
 * replacer that redacts.
 */
import type { LogFields, Logger } from '../core/logger.ts'

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]

const severity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export const isLogLevel = (value: string): value is LogLevel =>
  (logLevels as readonly string[]).includes(value)

/** `LOG_LEVEL` as both runtimes read it: unset is `info`; a wrong value is `info` plus the error to report. */
export const readLogLevel = (value: string | undefined): { level: LogLevel; error?: string } => {
  if (value === undefined || value === '') return { level: 'info' }
  const level = value.toLowerCase()
  if (isLogLevel(level)) return { level }
  return {
    level: 'info',
    error: `env.LOG_LEVEL: expected one of ${logLevels.join(', ')}, got "${value}"`,
  }
}

/** `apiKey`, `x-api-key`, `authorization`, `accessToken`, `client_secret`... but not `inputTokens` (a count). */
const sensitiveName = /(?:key|token|secret|password|authorization|cookie)$/i

const secretPattern =
  /\b(?:sk-[A-Za-z0-9_*-]{6,}|gh-[A-Za-z0-9_-]{20,})|\bBearer\s+[A-Za-z0-9._~+/=*-]+/gi

const redactPatterns = (value: string): string =>
  value.includes('sk-') || value.includes('gh-') || /bearer/i.test(value)
    ? value.replace(secretPattern, (match) =>
        /^bearer/i.test(match) ? 'Bearer [redacted]' : `${match.slice(0, 3)}[redacted]`
      )
    : value

/** Shorter values are not masked: they would blank out ordinary words. */
const minimumSecretLength = 8

const serializeError = (error: Error): Record<string, unknown> => {
  const serialized: Record<string, unknown> = { name: error.name, message: error.message }
  for (const [name, value] of Object.entries(error)) {
    if (value !== undefined && typeof value !== 'function') serialized[name] = value
  }
  if (error.stack !== undefined) serialized.stack = error.stack
  if (error.cause !== undefined) serialized.cause = error.cause
  return serialized
}

const createReplacer = (secrets: readonly string[]) => {
  const redactString = (value: string): string => {
    let redacted = value
    for (const secret of secrets)
      if (redacted.includes(secret)) redacted = redacted.replaceAll(secret, '[redacted]')
    return redactPatterns(redacted)
  }
  const replacer = (name: string, value: unknown): unknown => {
    if (typeof value === 'string')
      return name !== '' && sensitiveName.test(name) ? '[redacted]' : redactString(value)
    if (value === null || value === undefined) return value
    if (
      name !== '' &&
      sensitiveName.test(name) &&
      typeof value !== 'number' &&
      typeof value !== 'boolean'
    )
      return '[redacted]'
    if (value instanceof Error) return serializeError(value)
    if (typeof value === 'bigint') return value.toString()
    return value
  }
  return { replacer, redactString }
}

/** Field names already checked against `sensitiveName` (a process logs the same few dozen names over and over). */
const sensitiveNames = new Map<string, boolean>()
const isSensitiveName = (name: string): boolean => {
  let sensitive = sensitiveNames.get(name)
  if (sensitive === undefined) {
    sensitive = sensitiveName.test(name)
    if (sensitiveNames.size < 1_000) sensitiveNames.set(name, sensitive)
  }
  return sensitive
}

/**
 * What the fast path takes: strings, numbers, booleans and null, or plain objects of them one level down (`usage`),
 * with no field named like a credential at either level.
 */
const isFlatAndPlainlyNamed = (fields: LogFields): boolean => {
  for (const name in fields) {
    if (isSensitiveName(name)) return false
    const value = fields[name]
    if (value === null || value === undefined) continue
    const type = typeof value
    if (type === 'bigint') return false
    if (type !== 'object') continue
    if (Object.getPrototypeOf(value) !== Object.prototype) return false
    const inner = value as Record<string, unknown>
    for (const innerName in inner) {
      if (isSensitiveName(innerName)) return false
      const innerValue = inner[innerName]
      if ((innerValue !== null && typeof innerValue === 'object') || typeof innerValue === 'bigint')
        return false
    }
  }
  return true
}

/** A key-like string anywhere in a line: a provider key, a GitHub-style token, a bearer token (any case). */
const bearer = /bearer/i
const mayHoldKey = (line: string): boolean =>
  line.includes('sk-') || line.includes('gh-') || bearer.test(line)

export type NodeLoggerOptions = {
  level?: LogLevel
  /** Values masked wherever they appear: the master key and the provider keys, whatever their shape. */
  secrets?: readonly string[]
  /** Where lines go (default: process.stdout). */
  write?: (line: string) => void
  now?: () => number
  /** Fields every line carries after `msg` (`pid`, when several processes write to one stdout). */
  base?: Readonly<Record<string, string | number>>
}

export const createJsonLogger = (options: NodeLoggerOptions = {}): Logger => {
  const threshold = severity[options.level ?? 'info']
  const write = options.write ?? ((line: string) => void process.stdout.write(line))
  const now = options.now ?? Date.now
  const secrets = [...new Set(options.secrets ?? [])]
    .filter((secret) => secret.length >= minimumSecretLength)
    .sort((left, right) => right.length - left.length)
  const { replacer, redactString } = createReplacer(secrets)
  const base = options.base ?? {}
  const baseNames = Object.keys(base)
  const baseJson = baseNames.length === 0 ? '' : `,${JSON.stringify(base).slice(1, -1)}`
  const namesTaken = (fields: LogFields): boolean => {
    if ('level' in fields || 'time' in fields || 'msg' in fields) return true
    for (const name of baseNames) if (name in fields) return true
    return false
  }
  /** The secrets as they appear inside a JSON string (quotes and backslashes escaped). */
  const secretsInJson = secrets.map((secret) => JSON.stringify(secret).slice(1, -1))
  const needsRedaction = (line: string): boolean => {
    if (mayHoldKey(line)) return true
    for (const secret of secretsInJson) if (line.includes(secret)) return true
    return false
  }

  /** The line with every field, through the redacting replacer. */
  const redactedLine = (
    level: string,
    time: number,
    fields: LogFields,
    message: string
  ): string => {
    const entry: Record<string, unknown> = { level, time, msg: message, ...base }
    for (const name in fields) if (!(name in entry)) entry[name] = fields[name]
    return JSON.stringify(entry, replacer)
  }

  const log = (level: Exclude<LogLevel, 'silent'>, fields: LogFields, message: string): void => {
    if (severity[level] < threshold) return
    const time = now()
    let line: string
    try {
      // The fast path serialises the caller's fields as they are, after a head written by hand: no copy of the
      // fields into a new object (on Node 20, adding a dozen keys to an object costs more than the serialising).
      const plain =
        isFlatAndPlainlyNamed(fields) && !namesTaken(fields) ? JSON.stringify(fields) : undefined
      const head = `{"level":"${level}","time":${time},"msg":${JSON.stringify(message)}${baseJson}`
      const candidate =
        plain === undefined ? undefined : plain === '{}' ? `${head}}` : `${head},${plain.slice(1)}`
      line =
        candidate !== undefined && !needsRedaction(candidate)
          ? candidate
          : redactedLine(level, time, fields, message)
    } catch (error) {
      line = JSON.stringify({ level, time, msg: redactString(message), logError: String(error) })
    }
    write(`${line}\n`)
  }

  return {
    debug: (fields, message) => log('debug', fields, message),
    info: (fields, message) => log('info', fields, message),
    warn: (fields, message) => log('warn', fields, message),
    error: (fields, message) => log('error', fields, message),
  }
}
