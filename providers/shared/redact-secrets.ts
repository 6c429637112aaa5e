/**
 * Masks credentials that upstream error messages sometimes echo back (OpenAI's "Incorrect API key provided: sk-...",
 * a proxy repeating an `Authorization` header), so a message can reach a client or a log line without leaking a key.
 */
const apiKeyPattern = /\bsk-(ant-)?[A-Za-z0-9_*.-]{6,}/g
const bearerPattern = /\bBearer\s+[A-Za-z0-9._~+/=*-]+/gi

export const redactSecrets = (text: string): string =>
  text
    .replace(apiKeyPattern, (_key, anthropic: string | undefined) =>
      anthropic ? 'sk-ant-***' : 'sk-***'
    )
    .replace(bearerPattern, 'Bearer ***')
