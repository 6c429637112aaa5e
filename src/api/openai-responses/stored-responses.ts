/**
 * Stored responses for routes the gateway converts (Anthropic, Chat-Completions-only servers): what the Responses
 * API's `store` (on unless the client says `store: false`) promises, kept in the responses store scoped to the tenant.
 *
 * - Before the call (`prepare`): a `previous_response_id` the store holds becomes the conversation it stands for (the
 *   stored context, then this request's input), and each `item_reference` the store holds becomes the item. The body
 *   is then whole, so any target can serve it, OpenAI after a fallback included. Ids the store does not hold (or holds
 *   for another tenant, which it never reveals) are left as they are: OpenAI's own, forwarded to OpenAI, or a clear
 *   400 on a converted route.
 * - After the call (`keep`): a finished converted answer is stored with this request's input and the whole context
 *   (the expanded input and the answer's output), before the end of the answer is sent, so that a client chaining at
 *   once (on any instance) finds it.
 * - `GET`, `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items` read the store, in the tenant's scope.
 *
 * Responses forwarded to OpenAI are OpenAI's to keep; the store records only whose they are (their id and their output
 * items' ids, with the tenant and the provider instance), as soon as the forwarded answer says it (a stream's terminal
 * event, the whole body) and before that reaches the client. So a tenant key may name in `previous_response_id` or
 * `item_reference` only what its own tenant made (an id the store does not know for the tenant is a 404, never
 * passed to an upstream whose credential every tenant shares; the master key, the operator's, may name any), and a
 * call that names one goes to the provider instance that stores it (`pin`), whatever the route's order, after a
 * fallback, and on any instance. Retrieve, delete, cancel and input items of such a response are asked of that
 * provider (`proxy-stored-response.ts`). A background response is recorded while queued, without output, with the
 * usage it still owes (`background-usage.ts`) and its first poll time; the ids of its output items are added to its
 * record from the first retrieve that shows it finished (`recordRetrievedOutput`).
 * https://platform.openai.com/docs/api-reference/responses/create#responses-create-store
 */
import type { Context } from 'hono'
import type { Logger } from '../../core/logger.ts'
import type { Clock } from '../../core/clock.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import {
  maxAppendedOutputItems,
  type ResponseItem,
  type ResponseScope,
  type ResponseStore,
  type StoredResponse,
} from '../../stores/response-store.ts'
import type { BackgroundPoller } from './background-poller.ts'
import { createResponsesItemId } from './convert-to-responses-response.ts'
import type { CallRoute } from '../../core/chat-call.ts'
import { GatewayError, invalidRequest } from '../../core/errors.ts'
import type { PreparedCall } from '../handle-chat.ts'
import { isJsonObject } from '../is-json-object.ts'

/** How long a stored response is kept: OpenAI keeps its own for 30 days. */
export const storedResponseTtlMs = 30 * 86_400_000

/** The item type of a forwarded response's output in its record: an id OpenAI holds, not an item the gateway has. */
const heldUpstream = 'gatehouse.held_upstream'

/** A record of a forwarded response (not one the gateway can answer for itself). */
export const isForwardedRecord = (response: Record<string, unknown>): boolean =>
  response.object === heldUpstream

export const responseNotFound = (id: string, param = 'id'): GatewayError =>
  new GatewayError('not_found', `No response found with id '${id}'.`, { param })

/** The record's items: ids OpenAI holds, each naming its provider, so an `item_reference` to one pins the call there. */
const heldItems = (ids: readonly string[], provider: string): ResponseItem[] =>
  ids.map((id) => ({ id, type: heldUpstream, provider }))

/** Statuses of a finished response whose output OpenAI keeps: its items can be named from then on. */
const finishedWithOutput = new Set(['completed', 'incomplete'])

/**
 * After a retrieve of a forwarded response (the whole JSON body, as the upstream answered it): when its record has no
 * output yet (a background response, recorded while queued) and the body shows it finished with output, the ids of
 * its output items (at most `maxAppendedOutputItems`) join the record, in the record's tenant scope and with its
 * provider, so that the tenant's `item_reference`s to them resolve and pin to that provider. Anything else (a record
 * that has its output, a response still queued or in progress, a body that is not this response) writes nothing. A
 * failure to write is logged, never the client's: its answer is whole either way.
 */
export const recordRetrievedOutput = async (options: {
  store: ResponseStore
  logger: Logger
  record: StoredResponse
  status: number
  /** The retrieve's body, parsed (`undefined`: not JSON). */
  retrieved: unknown
}): Promise<void> => {
  const { record, store } = options
  const held = record.response.output
  if (
    options.status !== 200 ||
    record.provider === null ||
    !isForwardedRecord(record.response) ||
    (Array.isArray(held) && held.length > 0)
  )
    return
  const { retrieved } = options
  if (
    !isJsonObject(retrieved) ||
    retrieved.id !== record.id ||
    typeof retrieved.status !== 'string' ||
    !finishedWithOutput.has(retrieved.status) ||
    !Array.isArray(retrieved.output)
  )
    return
  const ids: string[] = []
  for (const item of retrieved.output) {
    const id = isJsonObject(item) ? item.id : undefined
    if (typeof id === 'string' && id !== '' && id.length <= 200) ids.push(id)
    if (ids.length === maxAppendedOutputItems) break
  }
  if (ids.length === 0) return
  await store
    .appendOutput(record.id, { tenantId: record.tenantId }, heldItems(ids, record.provider))
    .catch((error: unknown) =>
      options.logger.warn(
        { responseId: record.id, error: error instanceof Error ? error.message : String(error) },
        'the output items of a retrieved response could not be recorded'
      )
    )
}

/** Whether `input` holds an `item_reference` with an id: an item the store may hold. */
const namesStoredItem = (input: unknown): boolean =>
  Array.isArray(input) &&
  input.some(
    (item) => isJsonObject(item) && item.type === 'item_reference' && typeof item.id === 'string'
  )

/** The request's `input` as items, as the API lists them: a string is one user message; a message says its type. */
const inputItems = (input: unknown): ResponseItem[] => {
  if (typeof input === 'string')
    return [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: input }] }]
  if (!Array.isArray(input)) return []
  return input
    .filter(isJsonObject)
    .map((item) =>
      item.type === undefined && 'role' in item ? { type: 'message', ...item } : item
    )
}

/**
 * A stored item as `input_items` lists it, as the API does: a message's content as parts (the text of an assistant
 * message as `output_text`, a user's as `input_text`), and a `status` on every message, function call and function
 * call output. Items are stored as the client sent them (they are also the next call's input); the SDK's types, and
 * code that reads `content` as a list, take only this form.
 */
export const listedItem = (item: ResponseItem): ResponseItem => {
  if (item.type === 'message') {
    const content =
      typeof item.content !== 'string'
        ? item.content
        : item.role === 'assistant'
          ? [{ type: 'output_text', text: item.content, annotations: [], logprobs: [] }]
          : [{ type: 'input_text', text: item.content }]
    return { ...item, content, status: item.status ?? 'completed' }
  }
  if (
    (item.type === 'function_call' || item.type === 'function_call_output') &&
    item.status === undefined
  )
    return { ...item, status: 'completed' }
  return item
}

const idPrefix = (item: ResponseItem): 'msg' | 'fc' | 'rs' =>
  item.type === 'reasoning'
    ? 'rs'
    : item.type === 'function_call' || item.type === 'function_call_output'
      ? 'fc'
      : 'msg'

/** Items as stored: each with an id (the input_items list pages by them), as the API gives its input items. */
const withIds = (items: readonly ResponseItem[]): ResponseItem[] =>
  items.map((item) =>
    typeof item.id === 'string' && item.id !== ''
      ? item
      : { ...item, id: createResponsesItemId(idPrefix(item)) }
  )

/**
 * Stored items as input to a new call: messages and function calls and their outputs without ids (optional as input,
 * and ids the gateway made could be taken by an upstream that did not make them, OpenAI after a fallback, for
 * references to its own items). References and reasoning keep theirs: they are what names them.
 */
const asInput = (items: readonly ResponseItem[]): ResponseItem[] =>
  items.map((item) => {
    if (item.type === 'reasoning' || item.type === 'item_reference' || !('id' in item)) return item
    const { id: _id, ...rest } = item
    return rest
  })

const requestedModel = (body: Record<string, unknown>): string =>
  typeof body.model === 'string' ? body.model : ''

/**
 * A call that continues what an upstream stores (`previous_response_id` or an `item_reference` naming a forwarded
 * response) goes to that provider instance, and with its credential, whatever the route's order and after a fallback
 * too: the route keeps only its targets on that provider. A route without one cannot serve the call (the conversation
 * is the upstream's, the gateway does not hold it): a 400 that says so, rather than another model on that provider.
 */
const pinRoute =
  (pinned: { provider: string; param: string }, model: string) =>
  (route: CallRoute): CallRoute => {
    const targets = route.targets.filter((target) => target.provider.config.id === pinned.provider)
    if (targets.length === 0)
      throw invalidRequest(
        `\`${pinned.param}\` names a response stored by provider "${pinned.provider}", which the model \`${model}\` is not routed to. Ask for a model served by "${pinned.provider}" to continue it, or send the conversation as \`input\` items.`,
        pinned.param
      )
    return targets.length === route.targets.length ? route : { name: route.name, targets }
  }

export type StoredResponsesDeps = {
  store: ResponseStore
  clock: Clock
  logger: Logger
  defer: (work: Promise<unknown>) => void
  /** Told when a background response is due for its first poll (Node); absent, it is due at once for any poller. */
  poller?: Pick<BackgroundPoller, 'firstPollAt' | 'wake'>
}

export const scopeOf = (c: Context<GatewayEnv>): ResponseScope => ({
  tenantId: c.get('principal').tenantId,
})

/** The route's `prepare`: expands what the store holds, and keeps the finished answer when `store` is on. */
export const prepareStoredResponses =
  (deps: StoredResponsesDeps) =>
  async (c: Context<GatewayEnv>, body: Record<string, unknown>): Promise<PreparedCall> => {
    // Nothing stored to expand and nothing to keep (`store: false`, as Codex CLI sends, and not in background): the
    // body goes as it came, what the rest of this would conclude after building the items it never uses.
    if (
      body.store === false &&
      body.background !== true &&
      typeof body.previous_response_id !== 'string' &&
      !namesStoredItem(body.input)
    )
      return { body }
    const scope = scopeOf(c)
    // A tenant key names only what its tenant made; the master key, the operator's, anything.
    const strict = scope.tenantId !== null
    // What is stored has ids (given here where the client sent none) and references resolved; what goes upstream
    // is the client's body unless something was expanded.
    // Ids only for what is kept: without `store`, the items go upstream as they came (`asInput` would drop them).
    let own = body.store === false ? inputItems(body.input) : withIds(inputItems(body.input))
    let previousContext: ResponseItem[] = []
    let changed = false
    let chained = false
    /** The provider that stores what the request names upstream, and the field that names it first. */
    let pinned: { provider: string; param: string } | null = null
    const pinTo = (provider: unknown, param: string): void => {
      if (typeof provider !== 'string') return
      if (pinned !== null && pinned.provider !== provider)
        throw invalidRequest(
          `\`${param}\` names a response stored by provider "${provider}", and \`${pinned.param}\` one stored by provider "${pinned.provider}": one request can continue only what one provider stores.`,
          param
        )
      pinned ??= { provider, param }
    }
    try {
      if (typeof body.previous_response_id === 'string') {
        const previous = await deps.store.get(body.previous_response_id, scope)
        if (previous === null) {
          if (strict) throw responseNotFound(body.previous_response_id, 'previous_response_id')
        } else if (!isForwardedRecord(previous.response)) {
          previousContext = previous.context
          changed = true
          chained = true
        } else pinTo(previous.provider, 'previous_response_id')
      }
      const references = own.filter(
        (item) => item.type === 'item_reference' && typeof item.id === 'string'
      )
      if (references.length > 0) {
        const found = await deps.store.getItems(
          references.map((item) => item.id as string),
          scope
        )
        if (strict) {
          const missing = references.find((item) => !found.has(item.id as string))
          if (missing !== undefined)
            throw new GatewayError('not_found', `No item found with id '${String(missing.id)}'.`, {
              param: `input.${own.indexOf(missing)}.id`,
            })
        }
        own = own.map((item, index) => {
          if (item.type !== 'item_reference') return item
          const stored = found.get(item.id as string)
          if (stored?.type === heldUpstream) pinTo(stored.provider, `input.${index}.id`)
          if (stored === undefined || stored.type === heldUpstream) return item
          changed = true
          return stored
        })
      }
    } catch (error) {
      if (error instanceof GatewayError) throw error
      // The store out of reach: the request goes as sent (OpenAI resolves its own ids; a converted route says 400).
      deps.logger.warn(
        { error: error instanceof Error ? error.message : String(error) },
        'stored responses could not be read; the request goes as sent'
      )
      return { body }
    }
    const context = [...previousContext, ...own]
    let expanded = body
    if (changed) {
      const { previous_response_id: _previous, ...rest } = body
      expanded = { ...(chained ? rest : body), input: asInput(context) }
    }
    const echo = chained ? { previous_response_id: body.previous_response_id } : undefined
    const pin = pinned === null ? undefined : pinRoute(pinned, requestedModel(body))
    // `store: false` keeps nothing, but a background response: OpenAI keeps it for polling, and the gateway records
    // whose it is (so the tenant can poll it) and what it owes.
    if (body.store === false && body.background !== true) return { body: expanded, echo, pin }
    const requested = requestedModel(body)
    /**
     * Writes a record, resolving with whether it was written; a failure is logged, never the client's (its answer is
     * whole either way).
     */
    const put = (entry: StoredResponse, pollAt?: number): Promise<boolean> =>
      deps.store.put(entry, pollAt === undefined ? undefined : { pollAt }).then(
        () => true,
        (error: unknown) => {
          deps.logger.warn(
            { responseId: entry.id, error: error instanceof Error ? error.message : String(error) },
            'a response could not be recorded'
          )
          return false
        }
      )
    // As soon as the forwarded answer has said what the upstream stored (a stream's terminal event, the whole body),
    // before that reaches the client: a chain sent at once, on any instance, is recognised and pinned. A background
    // response that runs on carries the usage it owes, due for its first poll.
    const keepForwarded: PreparedCall['keepForwarded'] = async (stored, provider, pending) => {
      const now = deps.clock.now()
      const entry: StoredResponse = {
        id: stored.id,
        tenantId: scope.tenantId,
        createdAt: now,
        expiresAt: now + storedResponseTtlMs,
        model: requested,
        provider,
        response: {
          id: stored.id,
          object: heldUpstream,
          // Each item names its provider: an `item_reference` to it pins the call there too.
          output: heldItems(stored.itemIds, provider),
          // A chain the gateway expanded: the upstream never saw the id, so the answers about it echo the id too.
          ...(echo === undefined ? {} : echo),
        },
        input: [],
        context: [],
      }
      if (pending === undefined) return put(entry)
      entry.pendingUsage = pending
      const pollAt = deps.poller?.firstPollAt(now) ?? now
      const written = await put(entry, pollAt)
      if (written) deps.poller?.wake(pollAt)
      return written
    }
    // Before the end of the answer reaches the client (the encoders wait for it): a chain sent at once finds it.
    const keep = (answer: Record<string, unknown>): Promise<boolean> => {
      const output = Array.isArray(answer.output) ? answer.output.filter(isJsonObject) : []
      const now = deps.clock.now()
      return put({
        id: String(answer.id),
        tenantId: scope.tenantId,
        createdAt: now,
        expiresAt: now + storedResponseTtlMs,
        model: requested,
        provider: null,
        response: answer,
        input: own,
        context: [...context, ...output],
      })
    }
    if (body.store === false) return { body: expanded, keepForwarded, echo, pin }
    return { body: expanded, keep, keepForwarded, echo, pin }
  }
