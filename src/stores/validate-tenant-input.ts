/**
 * Checks what a caller asks a tenant store to write, whatever the backend, so no backend stores what another would
 * refuse: each throws an `invalid_request` `GatewayError` whose `param` names the field. The admin API validates its
 * own input first, with its own field names; these are the store's last line.
 */
import { GatewayError, invalidRequest } from '../core/errors.ts'
import { isStorableText } from './storable-text.ts'
import { budgetPeriods, type AccessSettingsInput } from './tenant-store.ts'

/** A NUL or half a surrogate pair: PostgreSQL stores neither (`storable-text.ts`), so no backend may. */
const unstorableMessage = 'has a NUL character or half a surrogate pair, which cannot be stored'

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const hashPattern = /^[0-9a-f]{64}$/

export const validateTenantName = (name: string): void => {
  if (!namePattern.test(name))
    throw invalidRequest(
      'A tenant name is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit.',
      'name'
    )
}

export const validateKeyName = (name: string): void => {
  if (name.trim() === '' || name.length > 200)
    throw invalidRequest('A key name is 1 to 200 characters, not only spaces.', 'name')
  if (!isStorableText(name)) throw invalidRequest(`The key name ${unstorableMessage}.`, 'name')
}

export const validateKeyHash = (hash: string, param = 'hash'): void => {
  if (!hashPattern.test(hash))
    throw invalidRequest('A key hash is a SHA-256 as 64 lowercase hex digits.', param)
}

const isPositiveInteger = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0

export const validateAccessSettings = (settings: AccessSettingsInput): void => {
  const { allowedModels, limits, budget, metadata } = settings
  if (allowedModels !== undefined && allowedModels !== null) {
    if (!Array.isArray(allowedModels))
      throw invalidRequest('allowedModels is a list of model patterns, or null.', 'allowedModels')
    allowedModels.forEach((pattern, index) => {
      if (typeof pattern !== 'string' || pattern.trim() === '')
        throw invalidRequest('A model pattern is a non-empty string.', `allowedModels.${index}`)
      if (!isStorableText(pattern))
        throw invalidRequest(`The model pattern ${unstorableMessage}.`, `allowedModels.${index}`)
    })
  }
  if (limits !== undefined) {
    for (const name of ['rpm', 'tpm', 'concurrency'] as const) {
      const value = limits[name]
      if (value !== undefined && value !== null && !isPositiveInteger(value))
        throw invalidRequest(`limits.${name} is a positive integer, or null.`, `limits.${name}`)
    }
  }
  if (budget !== undefined && budget !== null) {
    if (
      typeof budget.microUsd !== 'number' ||
      !Number.isSafeInteger(budget.microUsd) ||
      budget.microUsd < 0
    )
      throw invalidRequest(
        'budget.microUsd is a whole number of micro-USD, 0 or more.',
        'budget.microUsd'
      )
    if (!budgetPeriods.includes(budget.period))
      throw invalidRequest(`budget.period is one of ${budgetPeriods.join(', ')}.`, 'budget.period')
  }
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
      throw invalidRequest('metadata is an object of strings.', 'metadata')
    for (const [name, value] of Object.entries(metadata)) {
      if (!isStorableText(name))
        throw invalidRequest(`A metadata name ${unstorableMessage}.`, 'metadata')
      if (typeof value !== 'string')
        throw invalidRequest('metadata values are strings.', `metadata.${name}`)
      if (!isStorableText(value))
        throw invalidRequest(`The metadata value ${unstorableMessage}.`, `metadata.${name}`)
    }
  }
}

export const validateTimestamp = (value: number | null | undefined, param: string): void => {
  if (value !== undefined && value !== null && !Number.isSafeInteger(value))
    throw invalidRequest(`${param} is epoch milliseconds, a whole number.`, param)
}

/** A name or hash already taken: 409, naming the field. */
export const conflict = (message: string, param: string): GatewayError =>
  new GatewayError('invalid_request', message, { param, status: 409 })

/** An expiry is in the future: a key that expires on creation is a mistake, not a request. */
export const validateExpiresAt = (value: number | null | undefined, now: number): void => {
  validateTimestamp(value, 'expiresAt')
  if (value !== undefined && value !== null && value <= now)
    throw invalidRequest('expiresAt is in the past.', 'expiresAt')
}
