import type { ServedBy } from '../core/execute.ts'

const passedUpstreamHeaders = /^(x-ratelimit-|anthropic-ratelimit-|retry-after)/

/**
 * Response headers: the upstream's by allowlist (rate limits, retry hints; its request id under our own name),
 * then which provider and model served and how many attempts it took.
 */
export const buildResponseHeaders = (options: {
  upstream?: Headers
  servedBy: ServedBy
  contentType: string
}): Headers => {
  const headers = new Headers({ 'content-type': options.contentType })
  const upstream = options.upstream
  if (upstream) {
    for (const [name, value] of upstream) {
      if (passedUpstreamHeaders.test(name)) headers.set(name, value)
    }
    const upstreamId = upstream.get('x-request-id') ?? upstream.get('request-id')
    if (upstreamId !== null) headers.set('x-gatehouse-upstream-request-id', upstreamId)
  }
  if (options.contentType.startsWith('text/event-stream')) {
    headers.set('cache-control', 'no-cache')
    headers.set('x-accel-buffering', 'no')
  }
  headers.set('x-gatehouse-provider', options.servedBy.provider)
  headers.set('x-gatehouse-model', options.servedBy.model)
  headers.set('x-gatehouse-attempts', String(options.servedBy.attempts))
  if (options.servedBy.defaultedMaxTokens !== undefined) {
    headers.set('x-gatehouse-default-max-tokens', String(options.servedBy.defaultedMaxTokens))
  }
  return headers
}
