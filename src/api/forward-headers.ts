import type { HeaderReader } from '../../providers/spec/provider-adapter.ts'
import type { ServedBy } from '../core/chat-call.ts'
import { copyUpstreamHeaders } from '../core/upstream-headers.ts'
import { headerSafe } from './header-safe.ts'

/**
 * Response headers: the upstream's by allowlist (rate limits, retry hints; its request id under our own name),
 * then which provider and model served and how many attempts it took, and what a converted call left out of the
 * client's request (`x-gatehouse-omitted-params`).
 */
export const buildResponseHeaders = (options: {
  /** Headers the response starts with (the request id's, from `takeRequestIdHeaders`); copied, not changed. */
  base: Record<string, string>
  upstream?: HeaderReader
  servedBy: ServedBy
  contentType: string
  /** Leave out the upstream's rate-limit headers (`copyUpstreamHeaders`): for a tenant key. */
  hideUpstreamRateLimits?: boolean
}): Record<string, string> => {
  // A plain object, not `Headers`: @hono/node-server writes it to the socket as is. Built as one literal, then
  // extended (never `{ ...base, more }`: on Node 20 that gives every response's object a hidden class of its own).
  const { servedBy, contentType } = options
  const headers: Record<string, string> = {
    'content-type': contentType,
    'x-gatehouse-provider': servedBy.provider,
    'x-gatehouse-model': headerSafe(servedBy.model),
    'x-gatehouse-attempts': String(servedBy.attempts),
  }
  for (const name in options.base) headers[name] = options.base[name]
  if (servedBy.defaultedMaxTokens !== undefined) {
    headers['x-gatehouse-default-max-tokens'] = String(servedBy.defaultedMaxTokens)
  }
  if (servedBy.omittedParams !== undefined && servedBy.omittedParams.length > 0) {
    headers['x-gatehouse-omitted-params'] = headerSafe(servedBy.omittedParams.join(', '))
  }
  if (contentType.startsWith('text/event-stream')) {
    headers['cache-control'] = 'no-cache'
    headers['x-accel-buffering'] = 'no'
  }
  if (options.upstream)
    copyUpstreamHeaders(headers, options.upstream, options.hideUpstreamRateLimits === true)
  return headers
}
