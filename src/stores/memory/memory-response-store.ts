/**
 * `ResponseStore` in the process: the fallback where there is no SQL database (on Node there always is). Bounded,
 * since every stored response would otherwise stay until it expires: the entries' JSON may take at most `maxChars`
 * characters (default 64 Mi, about 64 MB of ASCII text), and the least recently used entries (put, read, listed or
 * an item of theirs resolved) are forgotten first. An entry larger than the whole bound is not kept (and pushes
 * nothing out).
 *
 * Entries are kept as JSON text and parsed on every read, as a database would: a caller changing what it put or got
 * changes nothing stored, and the bound counts what is really held. A background response that owes usage is
 * forgotten like any other when the bound is reached (its settlement is then lost with it): one process, no database,
 * is a test and development setup.
 */
import type { Clock } from '../../core/clock.ts'
import { conflict } from '../validate-tenant-input.ts'
import { pageInputItems } from '../page-input-items.ts'
import {
  appendOutputItems,
  responseItemsOf,
  type DuePoll,
  type PendingUsage,
  type ResponseItem,
  type ResponseScope,
  type ResponseStore,
  type StoredResponse,
} from '../response-store.ts'
import {
  validateAppendedOutput,
  validateDuePollQuery,
  validateInputItemsQuery,
  validatePollTime,
  validateResponsePrune,
  validateStoredResponse,
} from '../validate-response-input.ts'

/** The default bound: 64 Mi characters of JSON. */
export const defaultMaxResponseChars = 64 * 1024 * 1024

type Entry = Pick<
  StoredResponse,
  'id' | 'tenantId' | 'createdAt' | 'expiresAt' | 'model' | 'provider'
> & {
  response: string
  input: string
  context: string
  items: Map<string, string>
  chars: number
  /** `PendingUsage` as JSON until its settlement is claimed; `null` then, or when there was none. */
  pendingUsage: string | null
  /** When pollers may next take it; `null`: never. */
  pollAt: number | null
}

export type MemoryResponseStoreOptions = {
  clock: Clock
  /** Characters of JSON kept at most (default `defaultMaxResponseChars`). */
  maxChars?: number
}

export const createMemoryResponseStore = (options: MemoryResponseStoreOptions): ResponseStore => {
  const { clock } = options
  const maxChars = options.maxChars ?? defaultMaxResponseChars
  /** By id, least recently used first (a use moves an entry to the end). */
  const entries = new Map<string, Entry>()
  /** Scope, then item id, to the ids of the responses holding a copy. */
  const itemIndex = new Map<string | null, Map<string, Set<string>>>()
  /** The ids of the entries that owe usage, so pollers do not walk every entry. */
  const owing = new Set<string>()
  let chars = 0

  const forget = (entry: Entry): void => {
    entries.delete(entry.id)
    owing.delete(entry.id)
    chars -= entry.chars
    const scoped = itemIndex.get(entry.tenantId)
    if (scoped === undefined) return
    for (const itemId of entry.items.keys()) {
      const holders = scoped.get(itemId)
      holders?.delete(entry.id)
      if (holders?.size === 0) scoped.delete(itemId)
    }
    if (scoped.size === 0) itemIndex.delete(entry.tenantId)
  }

  const expired = (entry: Entry, now: number): boolean =>
    entry.expiresAt !== null && entry.expiresAt <= now

  /** The entry if visible in `scope`, marked as used; an expired one is forgotten on the way. */
  const visible = (id: string, scope: ResponseScope): Entry | null => {
    const entry = entries.get(id)
    if (entry === undefined || entry.tenantId !== scope.tenantId) return null
    if (expired(entry, clock.now())) {
      forget(entry)
      return null
    }
    entries.delete(id)
    entries.set(id, entry)
    return entry
  }

  const read = (entry: Entry): StoredResponse => {
    const stored: StoredResponse = {
      id: entry.id,
      tenantId: entry.tenantId,
      createdAt: entry.createdAt,
      expiresAt: entry.expiresAt,
      model: entry.model,
      provider: entry.provider,
      response: JSON.parse(entry.response) as Record<string, unknown>,
      input: JSON.parse(entry.input) as ResponseItem[],
      context: JSON.parse(entry.context) as ResponseItem[],
    }
    if (entry.pendingUsage !== null)
      stored.pendingUsage = JSON.parse(entry.pendingUsage) as PendingUsage
    return stored
  }

  /** Forgets the least recently used entries until the bound holds. */
  const evict = (): void => {
    for (const oldest of entries.values()) {
      if (chars <= maxChars) break
      forget(oldest)
    }
  }

  /** Whether `a` is the copy a lookup prefers over `b`: the newer response, then the greater id. */
  const preferred = (a: Entry, b: Entry): boolean =>
    a.createdAt !== b.createdAt ? a.createdAt > b.createdAt : a.id > b.id

  return {
    async put(entry, options) {
      validateStoredResponse(entry, options)
      if (entries.has(entry.id))
        throw conflict(`A response with id ${JSON.stringify(entry.id)} is stored already.`, 'id')
      const items = new Map<string, string>()
      for (const [itemId, item] of responseItemsOf(entry)) items.set(itemId, JSON.stringify(item))
      const stored: Entry = {
        id: entry.id,
        tenantId: entry.tenantId,
        createdAt: entry.createdAt,
        expiresAt: entry.expiresAt,
        model: entry.model,
        provider: entry.provider,
        response: JSON.stringify(entry.response),
        input: JSON.stringify(entry.input),
        context: JSON.stringify(entry.context),
        items,
        chars: 0,
        pendingUsage: entry.pendingUsage === undefined ? null : JSON.stringify(entry.pendingUsage),
        pollAt: entry.pendingUsage === undefined ? null : (options?.pollAt ?? entry.createdAt),
      }
      stored.chars =
        stored.response.length +
        stored.input.length +
        stored.context.length +
        (stored.pendingUsage?.length ?? 0)
      for (const [itemId, item] of items) stored.chars += itemId.length + item.length
      // Larger than the whole bound: it would only push everything else out on its way.
      if (stored.chars > maxChars) return
      entries.set(stored.id, stored)
      if (stored.pendingUsage !== null) owing.add(stored.id)
      chars += stored.chars
      let scoped = itemIndex.get(stored.tenantId)
      if (scoped === undefined) itemIndex.set(stored.tenantId, (scoped = new Map()))
      for (const itemId of items.keys()) {
        const holders = scoped.get(itemId)
        if (holders === undefined) scoped.set(itemId, new Set([stored.id]))
        else holders.add(stored.id)
      }
      // Least recently used first; the new entry is last and fits, so it stays.
      evict()
    },

    async get(id, scope) {
      const entry = visible(id, scope)
      return entry === null ? null : read(entry)
    },

    async delete(id, scope) {
      const entry = entries.get(id)
      if (entry === undefined || entry.tenantId !== scope.tenantId) return false
      forget(entry)
      return !expired(entry, clock.now())
    },

    async getItems(ids, scope) {
      const found = new Map<string, ResponseItem>()
      const scoped = itemIndex.get(scope.tenantId)
      if (scoped === undefined) return found
      for (const itemId of new Set(ids)) {
        let best: Entry | null = null
        for (const responseId of [...(scoped.get(itemId) ?? [])]) {
          const entry = visible(responseId, scope)
          if (entry !== null && (best === null || preferred(entry, best))) best = entry
        }
        const item = best?.items.get(itemId)
        if (item !== undefined) found.set(itemId, JSON.parse(item) as ResponseItem)
      }
      return found
    },

    async appendOutput(id, scope, added) {
      validateAppendedOutput(added)
      const entry = visible(id, scope)
      if (entry === null) return false
      const response = JSON.parse(entry.response) as Record<string, unknown>
      const appended = appendOutputItems(response, added)
      if (appended.length === 0) return true
      const text = JSON.stringify(response)
      let grown = text.length - entry.response.length
      entry.response = text
      let scoped = itemIndex.get(entry.tenantId)
      if (scoped === undefined) itemIndex.set(entry.tenantId, (scoped = new Map()))
      for (const item of appended) {
        const itemId = item.id as string
        const json = JSON.stringify(item)
        // An output copy replaces an input copy of the same id (`responseItemsOf`).
        const replaced = entry.items.get(itemId)
        grown +=
          replaced === undefined ? itemId.length + json.length : json.length - replaced.length
        entry.items.set(itemId, json)
        const holders = scoped.get(itemId)
        if (holders === undefined) scoped.set(itemId, new Set([entry.id]))
        else holders.add(entry.id)
      }
      entry.chars += grown
      chars += grown
      // The entry was just used, so it is the last to go (and goes only if it alone outgrew the bound).
      evict()
      return true
    },

    async claimSettlement(id, scope) {
      const entry = visible(id, scope)
      if (entry === null || entry.pendingUsage === null) return null
      const pending = JSON.parse(entry.pendingUsage) as PendingUsage
      entry.chars -= entry.pendingUsage.length
      chars -= entry.pendingUsage.length
      entry.pendingUsage = null
      entry.pollAt = null
      owing.delete(entry.id)
      return pending
    },

    async takeDuePolls(query) {
      validateDuePollQuery(query)
      const due: Entry[] = []
      for (const id of owing) {
        const entry = entries.get(id)
        if (entry === undefined || entry.pollAt === null || entry.pollAt > query.now) continue
        if (entry.createdAt < query.createdSince || expired(entry, query.now)) continue
        due.push(entry)
      }
      due.sort((a, b) => (a.pollAt as number) - (b.pollAt as number))
      return due.slice(0, query.limit).map((entry): DuePoll => {
        entry.pollAt = query.leaseUntil
        return {
          id: entry.id,
          tenantId: entry.tenantId,
          provider: entry.provider,
          createdAt: entry.createdAt,
        }
      })
    },

    async schedulePoll(id, at) {
      validatePollTime(at)
      const entry = entries.get(id)
      if (entry !== undefined && entry.pendingUsage !== null) entry.pollAt = at
    },

    async listInputItems(id, scope, query) {
      validateInputItemsQuery(query)
      const entry = visible(id, scope)
      return entry === null
        ? null
        : pageInputItems(JSON.parse(entry.input) as ResponseItem[], query)
    },

    async pruneExpired(now, limit) {
      validateResponsePrune(now, limit)
      let deleted = 0
      for (const entry of [...entries.values()]) {
        if (limit !== undefined && deleted >= limit) break
        if (!expired(entry, now)) continue
        forget(entry)
        deleted += 1
      }
      return deleted
    },
  }
}
