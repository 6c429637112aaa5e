/**
 * Checks what a caller asks a response store to do, whatever the backend, so no backend stores or answers what
 * another would refuse: each throws an `invalid_request` `GatewayError` whose `param` names the field. The route
 * validates the client's request first; these are the store's last line.
 */
import { invalidRequest } from '../core/errors.ts'
import {
  maxAppendedOutputItems,
  type InputItemsQuery,
  type PutOptions,
  type ResponseItem,
  type StoredResponse,
} from './response-store.ts'

const isTime = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const validateStoredResponse = (entry: StoredResponse, options?: PutOptions): void => {
  if (typeof entry.id !== 'string' || entry.id === '' || entry.id.length > 200)
    throw invalidRequest('A stored response id is 1 to 200 characters.', 'id')
  if (entry.tenantId !== null && (typeof entry.tenantId !== 'string' || entry.tenantId === ''))
    throw invalidRequest('tenantId is a tenant id, or null for the master key.', 'tenantId')
  if (!isTime(entry.createdAt))
    throw invalidRequest('createdAt is epoch milliseconds, a whole number.', 'createdAt')
  if (entry.expiresAt !== null && !isTime(entry.expiresAt))
    throw invalidRequest('expiresAt is epoch milliseconds, a whole number, or null.', 'expiresAt')
  if (typeof entry.model !== 'string') throw invalidRequest('model is a string.', 'model')
  if (entry.provider !== null && typeof entry.provider !== 'string')
    throw invalidRequest('provider is a string, or null.', 'provider')
  if (!isObject(entry.response))
    throw invalidRequest('response is the Response object.', 'response')
  for (const field of ['input', 'context'] as const) {
    const items: unknown = entry[field]
    if (!Array.isArray(items)) throw invalidRequest(`${field} is a list of items.`, field)
    items.forEach((item, index) => {
      if (!isObject(item)) throw invalidRequest('An item is a JSON object.', `${field}.${index}`)
    })
  }
  const pending: unknown = entry.pendingUsage
  if (pending !== undefined) {
    if (!isObject(pending) || !isObject(pending.event))
      throw invalidRequest('pendingUsage is { event, reservation }.', 'pendingUsage.event')
    if (pending.reservation !== null && !isObject(pending.reservation))
      throw invalidRequest(
        'pendingUsage.reservation is an admission ticket, or null.',
        'pendingUsage.reservation'
      )
  }
  if (options?.pollAt !== undefined && !isTime(options.pollAt))
    throw invalidRequest('pollAt is epoch milliseconds, a whole number.', 'pollAt')
}

export const validateDuePollQuery = (query: {
  now: number
  leaseUntil: number
  createdSince: number
  limit: number
}): void => {
  for (const field of ['now', 'leaseUntil', 'createdSince'] as const)
    if (!Number.isSafeInteger(query[field]))
      throw invalidRequest(`${field} is epoch milliseconds, a whole number.`, field)
  if (!Number.isSafeInteger(query.limit) || query.limit < 1 || query.limit > 1_000)
    throw invalidRequest('limit is a whole number from 1 to 1000.', 'limit')
}

export const validatePollTime = (at: number | null): void => {
  if (at !== null && !isTime(at))
    throw invalidRequest('A poll time is epoch milliseconds, a whole number, or null.', 'at')
}

export const validateAppendedOutput = (items: readonly ResponseItem[]): void => {
  if (!Array.isArray(items)) throw invalidRequest('items is a list of items.', 'items')
  if (items.length > maxAppendedOutputItems)
    throw invalidRequest(`At most ${maxAppendedOutputItems} items are added at once.`, 'items')
  items.forEach((item, index) => {
    if (!isObject(item)) throw invalidRequest('An item is a JSON object.', `items.${index}`)
    if (typeof item.id !== 'string' || item.id === '' || item.id.length > 200)
      throw invalidRequest('An added item has an id of 1 to 200 characters.', `items.${index}.id`)
  })
}

export const validateInputItemsQuery = (query: InputItemsQuery): void => {
  if (!Number.isSafeInteger(query.limit) || query.limit < 1 || query.limit > 100)
    throw invalidRequest('limit is a whole number from 1 to 100.', 'limit')
  if (query.order !== 'asc' && query.order !== 'desc')
    throw invalidRequest("order is 'asc' or 'desc'.", 'order')
  if (query.after !== undefined && typeof query.after !== 'string')
    throw invalidRequest('after is an item id.', 'after')
}

export const validateResponsePrune = (now: number, limit: number | undefined): void => {
  if (!Number.isSafeInteger(now))
    throw invalidRequest('now is epoch milliseconds, a whole number.', 'now')
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1))
    throw invalidRequest('limit is a whole number of responses, at least 1.', 'limit')
}
