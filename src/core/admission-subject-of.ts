/**
 * A key's or a tenant's settings as the admission store reads them (`AdmissionSubject`): what `admitCall` admits and
 * what `peekRateLimitHeaders` reads the limits of.
 */
import type { AdmissionSubject } from '../stores/admission-store.ts'
import type { RateLimits } from '../stores/rate-limits.ts'
import type { AccessSettings } from '../stores/tenant-store.ts'

const rateLimitsOf = (settings: AccessSettings): RateLimits => ({
  requestsPerMinute: settings.limits.rpm,
  tokensPerMinute: settings.limits.tpm,
  concurrentRequests: settings.limits.concurrency,
})

const budgetOf = (settings: AccessSettings) =>
  settings.budget === null
    ? null
    : { limitMicroUsd: settings.budget.microUsd, period: settings.budget.period }

/**
 * What the admission store is given for a key or tenant, kept per settings object: a key's settings stay the same
 * object while its principal is cached, so its requests share one subject instead of making three objects each. The
 * stores only read a subject. Checked against the settings on every use, so a settings object changed in place is
 * never answered from a stale subject.
 */
const subjects = new WeakMap<AccessSettings, AdmissionSubject>()
export const admissionSubjectOf = (id: string, settings: AccessSettings): AdmissionSubject => {
  const cached = subjects.get(settings)
  if (
    cached !== undefined &&
    cached.id === id &&
    cached.limits.requestsPerMinute === settings.limits.rpm &&
    cached.limits.tokensPerMinute === settings.limits.tpm &&
    cached.limits.concurrentRequests === settings.limits.concurrency &&
    (cached.budget === null
      ? settings.budget === null
      : settings.budget !== null &&
        cached.budget.limitMicroUsd === settings.budget.microUsd &&
        cached.budget.period === settings.budget.period)
  )
    return cached
  const subject: AdmissionSubject = {
    id,
    limits: rateLimitsOf(settings),
    budget: budgetOf(settings),
  }
  subjects.set(settings, subject)
  return subject
}
