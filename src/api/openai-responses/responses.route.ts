import type { Context } from 'hono'
import { createRoute, z } from '@hono/zod-openapi'
import type { Deps } from '../../deps.ts'
import type { Executor } from '../../core/execute.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { withRouteRateLimitHeaders } from '../answer-with-rate-limit-headers.ts'
import { errorResponses } from '../error-responses.ts'
import type { PromptCache } from '../../core/cache/prompt-cache.ts'
import { createChatHandler } from '../handle-chat.ts'
import { openJsonRoute } from '../open-json-route.ts'
import { openAIErrorSchema } from '../openai/openai-schemas.ts'
import { responsesCodec } from './responses-codec.ts'
import { createResponseRequestSchema, responseObjectSchema } from './responses-schemas.ts'
import { invalidRequest } from '../../core/errors.ts'
import type { ProviderEntry } from '../../core/provider-registry.ts'
import type { StoredObjectRequest } from '../../../providers/spec/provider-adapter.ts'
import type { ResponseStore, StoredResponse } from '../../stores/response-store.ts'
import {
  fetchStoredObject,
  parseJsonBody,
  pickQuery,
  proxyStoredResponse,
  storedQueryParameters,
  type StreamObserver,
} from './proxy-stored-response.ts'
import {
  createBackgroundUsageSettler,
  isFinishedResponse,
  watchFinishedEvent,
} from './background-usage.ts'
import {
  isForwardedRecord,
  listedItem,
  prepareStoredResponses,
  recordRetrievedOutput,
  responseNotFound,
  scopeOf,
} from './stored-responses.ts'
import type { GatewayApi } from '../direct-routes.ts'

export const createResponseRoute = createRoute({
  method: 'post',
  path: '/v1/responses',
  tags: ['OpenAI'],
  summary:
    'Create a model response (OpenAI Responses API), streamed or not, routed to any configured provider',
  security: [{ bearerAuth: [] }],
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: createResponseRequestSchema } },
    },
  },
  responses: {
    200: {
      description:
        'The response (JSON), or with `stream: true` a server-sent event stream of response events',
      content: {
        'application/json': { schema: responseObjectSchema },
        'text/event-stream': { schema: { type: 'string' } },
      },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

const idParams = z.object({ id: z.string().min(1) })

/**
 * What the answers about a forwarded response echo (`proxyStoredResponse`'s `echo`): the `previous_response_id` its
 * create named, when the gateway expanded that chain and the upstream never saw the id (`stored-responses.ts`).
 */
const echoOf = (record: StoredResponse | null | undefined): Record<string, unknown> | undefined => {
  const previous = record?.response.previous_response_id
  return typeof previous === 'string' ? { previous_response_id: previous } : undefined
}

export const retrieveResponseRoute = createRoute({
  method: 'get',
  path: '/v1/responses/{id}',
  tags: ['OpenAI'],
  summary:
    'Retrieve a stored response: one the gateway converted (kept by the gateway), or one an OpenAI upstream stored (asked of the provider that created it; `stream=true` replays a background response)',
  security: [{ bearerAuth: [] }],
  request: {
    params: idParams,
    query: z.object({
      include: z.array(z.string()).optional(),
      stream: z.enum(['true', 'false']).optional(),
      starting_after: z.string().optional(),
      include_obfuscation: z.enum(['true', 'false']).optional(),
    }),
  },
  responses: {
    200: {
      description: 'The response',
      content: { 'application/json': { schema: responseObjectSchema } },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

export const deleteResponseRoute = createRoute({
  method: 'delete',
  path: '/v1/responses/{id}',
  tags: ['OpenAI'],
  summary:
    'Delete a stored response: from the gateway, or from the OpenAI upstream that stored it (its record goes too)',
  security: [{ bearerAuth: [] }],
  request: { params: idParams },
  responses: {
    200: {
      description: 'Deleted',
      content: {
        'application/json': {
          schema: z.object({
            id: z.string(),
            object: z.literal('response'),
            deleted: z.boolean(),
          }),
        },
      },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

export const cancelResponseRoute = createRoute({
  method: 'post',
  path: '/v1/responses/{id}/cancel',
  tags: ['OpenAI'],
  summary:
    'Cancel a background response: asked of the OpenAI upstream that stored it (a response the gateway converted was not made in background, and cannot be cancelled: a 400)',
  security: [{ bearerAuth: [] }],
  request: { params: idParams },
  responses: {
    200: {
      description: 'The response, `cancelled` (or as it was, when it had finished)',
      content: { 'application/json': { schema: responseObjectSchema } },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

export const listInputItemsRoute = createRoute({
  method: 'get',
  path: '/v1/responses/{id}/input_items',
  tags: ['OpenAI'],
  summary:
    'List the input items of a stored response (the gateway’s own, or asked of the OpenAI upstream that stored it)',
  security: [{ bearerAuth: [] }],
  request: {
    params: idParams,
    query: z.object({
      after: z.string().optional(),
      limit: z.string().optional(),
      order: z.enum(['asc', 'desc']).optional(),
      include: z.array(z.string()).optional(),
    }),
  },
  responses: {
    200: {
      description: 'A page of input items',
      content: {
        'application/json': {
          schema: z.looseObject({
            object: z.literal('list'),
            data: z.array(z.looseObject({})),
            // `null` on an empty page, as the API answers (src/stores/page-input-items.ts).
            first_id: z.string().nullable(),
            last_id: z.string().nullable(),
            has_more: z.boolean(),
          }),
        },
      },
    },
    ...errorResponses(openAIErrorSchema),
  },
})

type Located =
  | { kind: 'own'; store: ResponseStore; stored: StoredResponse }
  | { kind: 'upstream'; provider: ProviderEntry; record: StoredResponse | null }

/** https://platform.openai.com/docs/api-reference/responses/create */
export const registerResponses = (
  app: GatewayApi,
  deps: Deps,
  executor: Executor,
  promptCache: PromptCache | null = null
): void => {
  const store = deps.stores.responses
  // A background response's usage, settled by the first retrieve, cancel or delete that shows it finished (and by the
  // poller, `background-poller.ts`, on Node).
  const settler =
    store === undefined
      ? undefined
      : createBackgroundUsageSettler({
          store,
          usage: deps.usage,
          admission: deps.stores.admission,
          prices: deps.config.prices,
          clock: deps.clock,
          logger: deps.logger,
        })
  openJsonRoute(
    app,
    createResponseRoute,
    createChatHandler({
      deps,
      executor,
      codec: responsesCodec,
      operation: 'responses',
      promptCache,
      prepare:
        store === undefined
          ? undefined
          : prepareStoredResponses({
              store,
              clock: deps.clock,
              logger: deps.logger,
              defer: deps.defer,
              poller: deps.backgroundPoller,
            }),
    })
  )
  app.openAPIRegistry.registerPath(retrieveResponseRoute)
  app.openAPIRegistry.registerPath(deleteResponseRoute)
  app.openAPIRegistry.registerPath(listInputItemsRoute)
  app.openAPIRegistry.registerPath(cancelResponseRoute)
  /**
   * Where a response id leads for the caller: a response the gateway stored itself (`own`), one an upstream stored
   * (`upstream`: the provider instance that created it, recorded when it was forwarded), or a 404. A tenant key sees
   * its tenant's records only; the master key its own, and it may name any other id, which then goes to the one
   * provider that forwards Responses requests (the upstream judges it; with several, the id is unknown here).
   */
  const locate = async (c: Context<GatewayEnv>, id: string): Promise<Located> => {
    const scope = scopeOf(c)
    const stored = store === undefined ? null : await store.get(id, scope)
    if (store !== undefined && stored !== null && !isForwardedRecord(stored.response))
      return { kind: 'own', store, stored }
    if (stored !== null) {
      const provider = stored.provider === null ? undefined : deps.providers.get(stored.provider)
      // Made by a provider no longer configured: nothing can reach it.
      if (provider === undefined) throw responseNotFound(id)
      return { kind: 'upstream', provider, record: stored }
    }
    if (scope.tenantId === null) {
      const keepers = deps.providers
        .list()
        .filter(
          ({ adapter }) =>
            adapter.requestStored !== undefined && adapter.forwards.includes('responses')
        )
      if (keepers.length === 1) return { kind: 'upstream', provider: keepers[0], record: null }
    }
    throw responseNotFound(id)
  }
  const proxy = (
    c: Context<GatewayEnv>,
    provider: ProviderEntry,
    request: Omit<StoredObjectRequest, 'operation' | 'query'>,
    allowed: readonly string[],
    options: { observeStream?: StreamObserver; record?: StoredResponse | null } = {}
  ) =>
    proxyStoredResponse({
      deps,
      c,
      provider,
      request: { ...request, operation: 'responses', query: pickQuery(c.req.url, allowed) },
      observeStream: options.observeStream,
      echo: echoOf(options.record),
    })

  /** Settles what a response the upstream answered about still owes, when the answer shows it finished; awaited. */
  const settleFrom = async (record: StoredResponse, response: unknown): Promise<void> => {
    if (settler !== undefined && record.pendingUsage !== undefined)
      await settler.settle(record.id, { tenantId: record.tenantId }, response)
  }

  app.get(
    '/v1/responses/:id',
    withRouteRateLimitHeaders<'/v1/responses/:id'>(deps, async (c) => {
      const id = c.req.param('id')
      const found = await locate(c, id)
      if (found.kind === 'own') return c.json(found.stored.response)
      const { record } = found
      // A streamed replay of a background response that owes usage: settled from its terminal event, on the side.
      const observer =
        settler !== undefined && record?.pendingUsage !== undefined
          ? watchFinishedEvent(id, (finished) =>
              deps.defer(settler.settle(id, { tenantId: record.tenantId }, finished))
            )
          : undefined
      const { status, response, body } = await proxy(
        c,
        found.provider,
        { method: 'GET', id },
        storedQueryParameters.retrieve,
        { observeStream: observer, record }
      )
      if (store === undefined || record === null || body === undefined || status !== 200)
        return response
      // A background response seen finished: its output items join the record, and its usage is settled, before the
      // client has them. Parsed only when either is still to do.
      const output = record.response.output
      if (record.pendingUsage !== undefined || !Array.isArray(output) || output.length === 0) {
        const retrieved = parseJsonBody(body)
        await recordRetrievedOutput({ store, logger: deps.logger, record, status, retrieved })
        await settleFrom(record, retrieved)
      }
      return response
    })
  )
  /**
   * Only a background response can be cancelled, and only OpenAI runs those: the gateway's own (converted) responses
   * never are, so cancelling one is the 400 the API answers for a response not created with `background: true`.
   * https://platform.openai.com/docs/api-reference/responses/cancel
   */
  app.post(
    '/v1/responses/:id/cancel',
    withRouteRateLimitHeaders<'/v1/responses/:id/cancel'>(deps, async (c) => {
      const id = c.req.param('id')
      const found = await locate(c, id)
      if (found.kind === 'own') throw invalidRequest('Cannot cancel a synchronous response.')
      const { status, response, body } = await proxy(
        c,
        found.provider,
        { method: 'POST', id, part: 'cancel' },
        storedQueryParameters.cancel,
        { record: found.record }
      )
      // Cancelled (or finished before): what it used so far is settled, partial usage included when reported.
      if (found.record?.pendingUsage !== undefined && body !== undefined && status === 200)
        await settleFrom(found.record, parseJsonBody(body))
      return response
    })
  )
  app.delete(
    '/v1/responses/:id',
    withRouteRateLimitHeaders<'/v1/responses/:id'>(deps, async (c) => {
      const id = c.req.param('id')
      const found = await locate(c, id)
      if (found.kind === 'own') {
        if (!(await found.store.delete(id, scopeOf(c)))) throw responseNotFound(id)
        return c.json({ id, object: 'response', deleted: true })
      }
      const { record } = found
      // Still owing usage: what the provider says of it first, since a deleted response tells nothing any more.
      if (record?.pendingUsage !== undefined) await settleBeforeDelete(c, found.provider, record)
      const { status, response } = await proxy(
        c,
        found.provider,
        { method: 'DELETE', id },
        storedQueryParameters.delete
      )
      if (
        settler !== undefined &&
        record?.pendingUsage !== undefined &&
        status >= 200 &&
        status < 300
      )
        await settler.abandon(id, { tenantId: record.tenantId }, 'deleted before it finished')
      // Gone upstream: its record goes too (a failure to remove it is logged; it expires with the others).
      if (store !== undefined && found.record !== null && status >= 200 && status < 300)
        await store
          .delete(id, { tenantId: found.record.tenantId })
          .catch((error: unknown) =>
            deps.logger.warn(
              { responseId: id, error: error instanceof Error ? error.message : String(error) },
              'the record of a deleted response could not be removed'
            )
          )
      return response
    })
  )
  /**
   * Before a delete of a background response that owes usage: asks its provider whether it finished and settles it
   * when it did. A failure to ask is the delete's business, not this: it goes on.
   */
  const settleBeforeDelete = async (
    c: Context<GatewayEnv>,
    provider: ProviderEntry,
    record: StoredResponse
  ): Promise<void> => {
    try {
      const { body } = await fetchStoredObject({
        provider,
        request: { operation: 'responses', method: 'GET', id: record.id, query: [] },
        clock: deps.clock,
        signal: deps.clientSignal(c.req.raw, c.env),
        requestId: c.get('requestId'),
        timeoutMs: provider.config.timeouts.totalMs,
      })
      const retrieved = parseJsonBody(body)
      if (isFinishedResponse(retrieved, record.id)) await settleFrom(record, retrieved)
    } catch {
      // Asked again by nobody: the delete decides (`abandon` when it succeeds).
    }
  }

  app.get(
    '/v1/responses/:id/input_items',
    withRouteRateLimitHeaders<'/v1/responses/:id/input_items'>(deps, async (c) => {
      const id = c.req.param('id')
      const found = await locate(c, id)
      if (found.kind === 'upstream') {
        const { response } = await proxy(
          c,
          found.provider,
          { method: 'GET', id, part: 'input_items' },
          storedQueryParameters.input_items
        )
        return response
      }
      const limitText = c.req.query('limit')
      const limit = limitText === undefined ? 20 : Number(limitText)
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        throw invalidRequest('`limit` must be a whole number from 1 to 100.', 'limit')
      const order = c.req.query('order') ?? 'desc'
      if (order !== 'asc' && order !== 'desc')
        throw invalidRequest('`order` must be `asc` or `desc`.', 'order')
      const after = c.req.query('after')
      const page = await found.store.listInputItems(id, scopeOf(c), {
        limit,
        order,
        ...(after === undefined ? {} : { after }),
      })
      if (page === null) throw responseNotFound(id)
      return c.json({ ...page, data: page.data.map(listedItem) })
    })
  )
}
