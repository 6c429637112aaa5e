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
const apiKeyPattern = /\bsk-(ant-)?[A-Za-z0-9_*.-]{6,}/g
const bearerPattern = /\bBearer\s+[A-Za-z0-9._~+/=*-]+/gi

/** Shorter values are not masked: they would blank out ordinary words (the logger's rule too). */
const minimumSecretLength = 8

const remembered = new Set<string>()
/** Longest first, so that a secret holding another is masked whole. */
let ordered: readonly string[] = []

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
  if (added) ordered = [...remembered].sort((left, right) => right.length - left.length)
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

export const redactSecrets = (text: string): string =>
  maskRememberedSecrets(text)
    .replace(apiKeyPattern, (_key, anthropic: string | undefined) =>
      anthropic ? 'sk-ant-***' : 'sk-***'
    )
    .replace(bearerPattern, 'Bearer ***')
