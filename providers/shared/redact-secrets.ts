/**
 * Masks credentials that upstream error messages sometimes echo back (OpenAI's "Incorrect API key provided: sk-...",
 * a proxy repeating an `Authorization` header), so a message can reach a client or a log line without leaking a key.
 *
 * Two ways. What looks like a key (`sk-...`, `Bearer ...`), and the values of the credentials the gateway itself
 * holds (`rememberSecrets`: the master key, each provider's API key and configured headers): many providers' keys
 * look like nothing in particular (Groq's `gsk_`, Together's, a self-hosted server's), and only their values can find
 * them. Every adapter reads an upstream's error text through `redactSecrets`; the error serializer masks the remembered
 * values once more in every message a client gets (`maskRememberedSecrets`), whatever made the message.
 */
import { concatBytes, joinBytes } from './read-response-bytes.ts'

const apiKeyPattern = /\bsk-(ant-)?[A-Za-z0-9_*.-]{6,}/g
const bearerPattern = /\bBearer\s+[A-Za-z0-9._~+/=*-]+/gi

/** Shorter values are not masked: they would blank out ordinary words (the logger's rule too). */
const minimumSecretLength = 8

const remembered = new Set<string>()
/** Longest first, so that a secret holding another is masked whole. */
let ordered: readonly string[] = []
/** `ordered` as UTF-8, for `createSecretMasker`; made when first asked for after a change. */
let orderedBytes: readonly Uint8Array[] | null = null

/**
 * Adds credentials to mask by value. Process-wide, as the configuration is: each runtime adds its own when it builds
 * its dependencies (Node's `node-deps.ts`, Workers' `workers-deps.ts`), the list its logger masks. Several gateways in
 * one process (the tests) add theirs to one set: masking another gateway's key too costs nothing.
 */
export const rememberSecrets = (values: Iterable<string | null | undefined>): void => {
  let added = false
  for (const value of values) {
    if (typeof value !== 'string' || value.length < minimumSecretLength || remembered.has(value))
      continue
    remembered.add(value)
    added = true
  }
  if (added) {
    ordered = [...remembered].sort((left, right) => right.length - left.length)
    orderedBytes = null
  }
}

/** What each configured provider sends upstream that may be a credential: its API key and its headers' values. */
export const providerSecrets = (providers: {
  [id: string]: { apiKey?: string; headers?: Record<string, string> }
}): string[] =>
  Object.values(providers).flatMap((provider) => [
    ...(provider.apiKey === undefined ? [] : [provider.apiKey]),
    ...Object.values(provider.headers ?? {}),
  ])

/** `text` with every remembered credential replaced by `[redacted]`; `text` itself when it holds none. */
export const maskRememberedSecrets = (text: string): string => {
  let masked = text
  for (const secret of ordered)
    if (masked.includes(secret)) masked = masked.replaceAll(secret, '[redacted]')
  return masked
}

const encoder = new TextEncoder()
const redactedBytes = encoder.encode('[redacted]')

/** Where `needle` starts in `haystack` from `from`, or -1 (a plain search: the needles are a few dozen bytes). */
const indexOfBytes = (haystack: Uint8Array, needle: Uint8Array, from: number): number => {
  const first = needle[0]
  const last = haystack.length - needle.length
  outer: for (
    let at = haystack.indexOf(first, from);
    at !== -1 && at <= last;
    at = haystack.indexOf(first, at + 1)
  ) {
    for (let index = 1; index < needle.length; index += 1)
      if (haystack[at + index] !== needle[index]) continue outer
    return at
  }
  return -1
}

/** `bytes` with every occurrence of `secret` replaced by `[redacted]`; `bytes` itself when it holds none. */
const replaceBytes = (bytes: Uint8Array, secret: Uint8Array): Uint8Array => {
  let at = indexOfBytes(bytes, secret, 0)
  if (at === -1) return bytes
  const parts: Uint8Array[] = []
  let from = 0
  let size = 0
  while (at !== -1) {
    parts.push(bytes.subarray(from, at), redactedBytes)
    size += at - from + redactedBytes.length
    from = at + secret.length
    at = indexOfBytes(bytes, secret, from)
  }
  parts.push(bytes.subarray(from))
  size += bytes.length - from
  return concatBytes(parts, size)
}

export type SecretMasker = {
  /** The bytes to send for `chunk`: the remembered credentials masked, the last few bytes held for the next chunk. */
  push(chunk: Uint8Array): Uint8Array
  /** What is still held, masked: to send before the stream ends (or before an error event of the gateway's own). */
  end(): Uint8Array
}

/**
 * Masks the remembered credentials in a byte stream the gateway forwards untouched (an upstream's in-band error event
 * that repeats the key, a forwarded body with an `error`): by bytes, so that a chunk cut inside a character passes
 * as it came. A credential cut between two chunks is still found: each push holds back the last bytes that could be
 * the start of one (one fewer than the longest), sent with the next push or by `end`. `null` when the gateway holds
 * no credential to mask.
 */
export const createSecretMasker = (): SecretMasker | null => {
  if (ordered.length === 0) return null
  const secrets = (orderedBytes ??= ordered.map((secret) => encoder.encode(secret)))
  const hold = secrets[0].length - 1
  let held: Uint8Array = new Uint8Array(0)
  const mask = (bytes: Uint8Array): Uint8Array => {
    let out = bytes
    for (const secret of secrets) out = replaceBytes(out, secret)
    return out
  }
  return {
    push(chunk) {
      const masked = mask(joinBytes(held, chunk))
      const cut = Math.max(0, masked.length - hold)
      held = masked.slice(cut)
      return masked.subarray(0, cut)
    },
    end() {
      const rest = held
      held = new Uint8Array(0)
      return rest
    },
  }
}

class TooDeep extends Error {}

const maskJsonAt = (
  value: unknown,
  mask: (text: string) => string,
  depth: number,
  maxDepth: number
): unknown => {
  if (typeof value === 'string') return mask(value)
  if (value === null || typeof value !== 'object') return value
  if (depth === maxDepth) throw new TooDeep()
  if (Array.isArray(value))
    return value.map((item: unknown) => maskJsonAt(item, mask, depth + 1, maxDepth))
  return Object.fromEntries(
    Object.entries(value).map(([name, item]) => [
      mask(name),
      maskJsonAt(item, mask, depth + 1, maxDepth),
    ])
  )
}

/**
 * Parsed JSON (an upstream error's `details`) with `mask` applied to every string in it, names included; `undefined`
 * when it nests deeper than `maxDepth` objects and arrays, which are then not walked.
 */
export const maskJson = (
  value: unknown,
  mask: (text: string) => string,
  maxDepth = Number.POSITIVE_INFINITY
): unknown => {
  try {
    return maskJsonAt(value, mask, 0, maxDepth)
  } catch (error) {
    if (error instanceof TooDeep) return undefined
    throw error
  }
}

export const redactSecrets = (text: string): string =>
  maskRememberedSecrets(text)
    .replace(apiKeyPattern, (_key, anthropic: string | undefined) =>
      anthropic ? 'sk-ant-***' : 'sk-***'
    )
    .replace(bearerPattern, 'Bearer ***')
