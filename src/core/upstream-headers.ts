import { maskRememberedSecrets } from '../../providers/shared/redact-secrets.ts'
import type { HeaderReader } from '../../providers/spec/provider-adapter.ts'

/** The provider account's rate-limit headers (OpenAI's and Anthropic's names). */
export const isUpstreamRateLimitHeader = (name: string): boolean =>
  name.startsWith('x-ratelimit-') || name.startsWith('anthropic-ratelimit-')

/**
 * Adds the upstream's headers the client gets (by allowlist: retry hints, `retry-after` and `retry-after-ms`, and the
 * provider's rate-limit headers), and its request id under our own name, to an answer or to an error made of the
 * upstream's (`mapProviderError`). `hideRateLimits` (a tenant key's response) leaves the rate limits out: they
 * describe the operator's provider account, which is none of a tenant's business, and the tenant is held to its own,
 * which the gateway's `x-ratelimit-*` headers carry under the same names. Every value is masked as error bodies are
 * (`maskRememberedSecrets`): an upstream that echoes the gateway's credential in a header must not hand it on.
 */
export const copyUpstreamHeaders = (
  headers: Record<string, string>,
  upstream: HeaderReader,
  hideRateLimits = false
): void => {
  upstream.forEach((value, name) => {
    if (name.startsWith('retry-after') || (!hideRateLimits && isUpstreamRateLimitHeader(name)))
      headers[name] = maskRememberedSecrets(value)
  })
  const upstreamId = upstream.get('x-request-id') ?? upstream.get('request-id')
  if (upstreamId !== null)
    headers['x-gatehouse-upstream-request-id'] = maskRememberedSecrets(upstreamId)
}
