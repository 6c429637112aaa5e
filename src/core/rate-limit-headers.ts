/**
 * OpenAI's `x-ratelimit-*` headers (https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers), which
 * the official SDKs read, on every response of a tenant key: the tightest of the key's and its tenant's requests and
 * tokens limits. An admitted call's come from its admission (`admitCall`); a response that went through none (a
 * refusal before it, a call that takes nothing, a model list, a usage read) reads them as they stand with
 * `AdmissionStore.peek`, which takes nothing and keeps no window alive, and goes without them when the store does not
 * answer within its timeout: a header is no reason to delay or fail a response.
 */
import type { AdmissionStore } from '../stores/admission-store.ts'
import { tightestRateLimit, type RateLimitState } from '../stores/rate-limits.ts'
import type { AccessSettings } from '../stores/tenant-store.ts'
import { admissionSubjectOf } from './admission-subject-of.ts'
import type { Logger } from './logger.ts'
import type { Principal } from './principal.ts'

/** OpenAI's reset format: `1s`, `6m0s`, `20ms`. */
export const formatResetDuration = (ms: number): string => {
  if (ms < 1_000) return `${Math.max(0, Math.ceil(ms))}ms`
  const seconds = Math.ceil(ms / 1_000)
  const minutes = Math.floor(seconds / 60)
  const hours = Math.floor(minutes / 60)
  if (hours > 0) return `${hours}h${minutes % 60}m${seconds % 60}s`
  if (minutes > 0) return `${minutes}m${seconds % 60}s`
  return `${seconds}s`
}

/**
 * The `x-ratelimit-*` headers of the tightest requests and tokens limits. On every response of a tenant key, so the
 * names are literals (a name built per call is a new string to look up each time it is set) and nothing else is made.
 */
export const rateLimitHeaders = (states: readonly RateLimitState[]): Record<string, string> => {
  const headers: Record<string, string> = {}
  const requests = tightestRateLimit(states, 'requests')
  if (requests !== null) {
    headers['x-ratelimit-limit-requests'] = String(requests.limit)
    headers['x-ratelimit-remaining-requests'] = String(requests.remaining)
    headers['x-ratelimit-reset-requests'] = formatResetDuration(requests.resetMs)
  }
  const tokens = tightestRateLimit(states, 'tokens')
  if (tokens !== null) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.limit)
    headers['x-ratelimit-remaining-tokens'] = String(tokens.remaining)
    headers['x-ratelimit-reset-tokens'] = formatResetDuration(tokens.resetMs)
  }
  return headers
}

const hasWindow = (settings: AccessSettings): boolean =>
  settings.limits.rpm !== null || settings.limits.tpm !== null

/**
 * The headers of the principal's limits as they stand, read without taking anything. `null`, with no promise made,
 * when there is nothing to read: the master key, a request refused before its key was known, a key and tenant without
 * a requests or tokens limit, a runtime without an admission store. Never rejects: a store that does not answer gives
 * no headers, and one that fails gives none either (logged).
 */
export const peekRateLimitHeaders = (options: {
  principal: Principal | undefined
  store: AdmissionStore | undefined
  logger: Logger
}): Promise<Record<string, string>> | null => {
  const { principal, store } = options
  if (principal === undefined || principal.access === null || principal.tenantId === null)
    return null
  const { access, tenantId } = principal
  if (store === undefined || (!hasWindow(access.key) && !hasWindow(access.tenant))) return null
  return store
    .peek({
      tenant: admissionSubjectOf(tenantId, access.tenant),
      key: admissionSubjectOf(principal.id, access.key),
    })
    .then(
      (states) => (states === null ? {} : rateLimitHeaders(states)),
      (error: unknown) => {
        options.logger.error({ err: error }, 'admission: reading the limits for the headers failed')
        return {}
      }
    )
}

/**
 * `response` with the headers `pending` reads, once read (replacing any of the same name: the gateway's limits are
 * the ones the key is held to); `response` itself, at once, when nothing is pending.
 */
export const withRateLimitHeaders = (
  response: Response,
  pending: Promise<Record<string, string>> | null
): Response | Promise<Response> =>
  pending === null
    ? response
    : pending.then((headers) => {
        for (const name in headers) response.headers.set(name, headers[name])
        return response
      })
