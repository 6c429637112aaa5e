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
 *   (the expanded input and the answer's output), written after the response is sent.
 * - `GET`, `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items` read the store, in the tenant's scope.
 *
 * Responses forwarded to OpenAI are OpenAI's to keep; their ids are not in this store.
 * https://platform.openai.com/docs/api-reference/responses/create#responses-create-store
 */
import type { Context } from 'hono'
import type { Logger } from '../../core/logger.ts'
import type { Clock } from '../../core/clock.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import type { ResponseItem, ResponseScope, ResponseStore } from '../../stores/response-store.ts'
import { createResponsesItemId } from './convert-to-responses-response.ts'

/** How long a stored response is kept: OpenAI keeps its own for 30 days. */
export const storedResponseTtlMs = 30 * 86_400_000

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The request's `input` as items, as the API lists them: a string is one user message; a message says its type. */
const inputItems = (input: unknown): ResponseItem[] => {
  if (typeof input === 'string')
    return [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: input }] }]
  if (!Array.isArray(input)) return []
  return input
    .filter(isRecord)
    .map((item) =>
      item.type === undefined && 'role' in item ? { type: 'message', ...item } : item
    )
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

export type StoredResponsesDeps = {
  store: ResponseStore
  clock: Clock
  logger: Logger
  defer: (work: Promise<unknown>) => void
}

export const scopeOf = (c: Context<GatewayEnv>): ResponseScope => ({
  tenantId: c.get('principal').tenantId,
})

/** The route's `prepare`: expands what the store holds, and keeps the finished answer when `store` is on. */
export const prepareStoredResponses =
  (deps: StoredResponsesDeps) =>
  async (
    c: Context<GatewayEnv>,
    body: Record<string, unknown>
  ): Promise<{
    body: Record<string, unknown>
    keep?: (answer: Record<string, unknown>) => void
  }> => {
    const scope = scopeOf(c)
    // What is stored has ids (given here where the client sent none) and references resolved; what goes upstream
    // is the client's body unless something was expanded.
    let own = withIds(inputItems(body.input))
    let previousContext: ResponseItem[] = []
    let changed = false
    let chained = false
    try {
      if (typeof body.previous_response_id === 'string') {
        const previous = await deps.store.get(body.previous_response_id, scope)
        if (previous !== null) {
          previousContext = previous.context
          changed = true
          chained = true
        }
      }
      const references = own.filter(
        (item) => item.type === 'item_reference' && typeof item.id === 'string'
      )
      if (references.length > 0) {
        const found = await deps.store.getItems(
          references.map((item) => item.id as string),
          scope
        )
        if (found.size > 0) {
          own = own.map((item) =>
            item.type === 'item_reference' ? (found.get(item.id as string) ?? item) : item
          )
          changed = true
        }
      }
    } catch (error) {
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
    if (body.store === false) return { body: expanded }
    const requested = typeof body.model === 'string' ? body.model : ''
    const keep = (answer: Record<string, unknown>): void => {
      const output = Array.isArray(answer.output) ? answer.output.filter(isRecord) : []
      const now = deps.clock.now()
      deps.defer(
        deps.store
          .put({
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
          .catch((error: unknown) =>
            deps.logger.warn(
              {
                responseId: answer.id,
                error: error instanceof Error ? error.message : String(error),
              },
              'a converted response could not be stored'
            )
          )
      )
    }
    return { body: expanded, keep }
  }
