/**
 * Responses the gateway built itself (converted from Anthropic or a Chat-Completions-only upstream) and kept with
 * `store: true`, so that `previous_response_id`, `item_reference`, `GET` and `DELETE /v1/responses/{id}` and
 * `GET /v1/responses/{id}/input_items` work for them as they do on OpenAI, on any gateway instance.
 *
 * Scope: every read and write names the tenant (`null`: the master key). A response is visible only in the scope that
 * stored it: another tenant, and the master key for a tenant's response (and the other way round), see `null`, the
 * same answer as for an id that never existed, so nobody learns that another tenant's response exists.
 *
 * Expiry: each entry carries its own `expiresAt` (the caller's retention, OpenAI keeps stored responses 30 days). An
 * expired entry reads as absent at once; `pruneExpired` removes the rows later, a slice at a time.
 *
 * Items: the output items of a stored response and those of its input items that carry an `id` (`msg_…`, `fc_…`,
 * `rs_…`) are what `item_reference` resolves. The same id can be in several responses (a `function_call` answered
 * in one response and replayed as input of the next): each response keeps its own copy, deleting a response removes
 * only its copies, and a lookup takes the copy of the most recently created visible response (ties: the greater
 * response id), the output copy over the input copy within one response (`responseItemsOf`).
 *
 * Background responses (`background: true`, forwarded to OpenAI): their record carries the usage they still owe
 * (`pendingUsage`) until one caller claims its settlement (`claimSettlement`: exactly once, across processes), and a
 * poll time, by which pollers on any gateway instance take turns asking the provider whether it finished
 * (`takeDuePolls`, `schedulePoll`). The record is the source of truth: an instance that restarts, or another one,
 * finds there what is left to settle.
 *
 * `test/contract/response-store.test.ts` runs every backend through the same cases.
 */
import type { UsageEvent } from '../core/usage.ts'
import type { AdmissionTicket } from './admission-store.ts'

/**
 * What a background response still owes the usage records (its create was answered before the model ran, with no
 * tokens): the create's usage event as it was recorded (its tenant, key, model, provider and time, which the
 * settlement's event repeats), and the budget reservation kept open for it (the admission ticket's budget part, settled
 * with the real cost; `null` when nothing was reserved). Plain JSON; `src/api/openai-responses/background-usage.ts`
 * makes and settles it.
 */
export type PendingUsage = {
  event: UsageEvent
  reservation: AdmissionTicket | null
}

/** A background response a poller should ask its provider about (`takeDuePolls`). */
export type DuePoll = {
  id: string
  tenantId: string | null
  /** The provider instance that stores it. */
  provider: string | null
  /** Epoch ms. */
  createdAt: number
}

/** One item of a response's input or output, as JSON (`{type: 'message', id: 'msg_…', …}`). */
export type ResponseItem = Record<string, unknown>

/** Whose responses a call may see: a tenant's id, or `null` for the master key. */
export type ResponseScope = { tenantId: string | null }

export type StoredResponse = {
  /** `resp_…`, made by the gateway; unique across tenants. */
  id: string
  /** The tenant that stored it; `null`: the master key. */
  tenantId: string | null
  /** Epoch ms. */
  createdAt: number
  /** Epoch ms from which it reads as absent; `null`: kept until deleted. */
  expiresAt: number | null
  /** The model the client asked for. */
  model: string
  /** The provider (instance) that served it; `null` when unknown. */
  provider: string | null
  /** The `Response` object as sent to the client. */
  response: Record<string, unknown>
  /**
   * This request's own input items, as a list (a string input becomes one user message item), each with an `id`:
   * `input_items` pages by id, and an item without one cannot be a cursor.
   */
  input: ResponseItem[]
  /**
   * The whole conversation up to this response: the previous response's context, its output and this input, which
   * is what a request chained to this one by `previous_response_id` expands to (before its own input).
   */
  context: ResponseItem[]
  /**
   * The usage a background response still owes (`PendingUsage`), until its settlement is claimed. Absent when there is
   * none: not a background response, or settled.
   */
  pendingUsage?: PendingUsage
}

/** `GET /v1/responses/{id}/input_items`'s query. */
export type InputItemsQuery = {
  /** An item id: the page starts after it. An id not in the input is refused (`invalid_request`, `after`). */
  after?: string
  /** Items per page, 1 to 100. */
  limit: number
  /** `asc`: the input's order; `desc` (the API's default): the last item first. */
  order: 'asc' | 'desc'
}

/** OpenAI's list shape, as the endpoint answers it. */
export type InputItemsPage = {
  object: 'list'
  data: ResponseItem[]
  first_id: string | null
  last_id: string | null
  has_more: boolean
}

export interface ResponseStore {
  /**
   * Stores a response and indexes its items. Ids are the gateway's own and never reused: an id stored already (in
   * any scope) is refused with a 409 (`invalid_request`, param `id`), with nothing changed.
   */
  put(entry: StoredResponse, options?: PutOptions): Promise<void>
  /** `null` when absent, expired, deleted or another scope's. */
  get(id: string, scope: ResponseScope): Promise<StoredResponse | null>
  /** Whether a response visible in `scope` was deleted (an expired one is removed too, and answers `false`). */
  delete(id: string, scope: ResponseScope): Promise<boolean>
  /** The items found among `ids`, by id (see the header for which copy); ids not found are absent from the map. */
  getItems(ids: readonly string[], scope: ResponseScope): Promise<Map<string, ResponseItem>>
  /** A page of the response's input items, or `null` when the response is not visible (as `get`). */
  listInputItems(
    id: string,
    scope: ResponseScope,
    query: InputItemsQuery
  ): Promise<InputItemsPage | null>
  /**
   * Adds output items to a stored response, as they become known after it was put (a background response forwarded
   * to OpenAI is recorded while queued, before it has any): each is appended to `response.output` and indexed for
   * `item_reference` as an output copy (over an input copy of the same id in that response), with the response's
   * scope and expiry. Items whose id the output holds already are left out, so adding the same items again changes
   * nothing. Each item needs an `id`; at most `maxAppendedOutputItems` per call. Resolves with whether the response is
   * visible in `scope` (as `get`); when it is not, nothing changes.
   */
  appendOutput(id: string, scope: ResponseScope, items: readonly ResponseItem[]): Promise<boolean>
  /**
   * Claims the settlement of a background response: when it is visible in `scope` (as `get`) and owes usage not
   * claimed yet, marks it settled (no poller takes it again) and resolves with what it owed; otherwise `null`, with
   * nothing changed. Atomic across processes: of any number of calls for one response, at once or not, exactly one
   * gets it.
   */
  claimSettlement(id: string, scope: ResponseScope): Promise<PendingUsage | null>
  /**
   * For pollers, in every scope: up to `limit` responses that owe usage (not settled, not expired, created at or after
   * `createdSince`) whose poll time has come (at or before `now`), those due longest taken first. Each is handed out
   * with its poll time moved to `leaseUntil`, so that no other caller (another instance) takes it before then: two
   * calls never get the same response for one poll time.
   */
  takeDuePolls(query: {
    now: number
    leaseUntil: number
    createdSince: number
    limit: number
  }): Promise<DuePoll[]>
  /**
   * Sets when pollers next take a response that owes usage (`null`: never again; a retrieve can still settle it), in
   * every scope. A response settled, unknown or without pending usage is left alone.
   */
  schedulePoll(id: string, at: number | null): Promise<void>
  /**
   * Deletes responses (and their items) whose `expiresAt` is at or before `now`, in every scope; resolves with how
   * many responses. With `limit`, one slice of at most `limit`: fewer deleted means none expired is left.
   */
  pruneExpired(now: number, limit?: number): Promise<number>
}

/** `put`'s options. */
export type PutOptions = {
  /** For a response with `pendingUsage`: when pollers may first take it (epoch ms; default: at once). */
  pollAt?: number
}

/** The most items one `appendOutput` call may add. */
export const maxAppendedOutputItems = 1_000

const idOf = (item: unknown): string | null => {
  if (typeof item !== 'object' || item === null) return null
  const id = (item as { id?: unknown }).id
  return typeof id === 'string' && id !== '' ? id : null
}

/**
 * The items of `entry` that `item_reference` can name, by id: its output items first, then its input items, the
 * first copy of an id winning. Every backend indexes exactly these.
 */
export const responseItemsOf = (
  entry: Pick<StoredResponse, 'response' | 'input'>
): Map<string, ResponseItem> => {
  const items = new Map<string, ResponseItem>()
  const output = Array.isArray(entry.response.output) ? (entry.response.output as unknown[]) : []
  for (const item of [...output, ...entry.input]) {
    // A reference left unresolved names another item; indexed, it would shadow the item it names.
    if ((item as { type?: unknown } | null)?.type === 'item_reference') continue
    const id = idOf(item)
    if (id !== null && !items.has(id)) items.set(id, item as ResponseItem)
  }
  return items
}

/**
 * Appends to `response.output` (made a list when it is not) the `items` whose id it does not hold yet, the first of
 * several with one id winning; returns those appended, in order. Every backend's `appendOutput` goes through it.
 */
export const appendOutputItems = (
  response: Record<string, unknown>,
  items: readonly ResponseItem[]
): ResponseItem[] => {
  const output = Array.isArray(response.output) ? (response.output as unknown[]) : []
  const held = new Set(output.map(idOf).filter((id) => id !== null))
  const added: ResponseItem[] = []
  for (const item of items) {
    const id = idOf(item)
    if (id === null || held.has(id)) continue
    held.add(id)
    added.push(item)
  }
  response.output = [...output, ...added]
  return added
}
