/**
 * `GET /v1/models` and `GET /v1/models/{id}`: aliases plus every provider's advertised models (as `provider/model`,
 * always routable). OpenAI's list shape by default; Anthropic's (`type`, `display_name`, `created_at`, `has_more`,
 * `first_id`, `last_id`, `limit`/`after_id`/`before_id` paging) when the request carries `anthropic-version`. A
 * tenant key's answer carries the `x-ratelimit-*` headers of its limits, read without taking anything.
 * https://platform.openai.com/docs/api-reference/models/list, https://docs.claude.com/en/api/models-list
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { Executor } from '../../core/execute.ts'
import { GatewayError, invalidRequest } from '../../core/errors.ts'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { withRouteRateLimitHeaders } from '../answer-with-rate-limit-headers.ts'
import { anthropicErrorSchema } from '../anthropic/anthropic-schemas.ts'
import { modelListSchema, modelSchema, openAIErrorSchema } from './openai-schemas.ts'

type ListedModel = { id: string; created: number; ownedBy: string; displayName: string }

const listModels = async (
  deps: Deps,
  executor: Executor,
  startedAtSeconds: number
): Promise<ListedModel[]> => {
  const models: ListedModel[] = []
  const seen = new Set<string>()
  const add = (model: ListedModel): void => {
    if (seen.has(model.id)) return
    seen.add(model.id)
    models.push(model)
  }
  for (const route of Object.values(deps.config.routes)) {
    add({
      id: route.name,
      created: startedAtSeconds,
      ownedBy: 'gatehouse',
      displayName: route.name,
    })
  }
  for (const { providerId, models: advertised } of await executor.catalog.list()) {
    for (const model of advertised) {
      add({
        id: `${providerId}/${model.id}`,
        created: model.created ?? startedAtSeconds,
        ownedBy: model.ownedBy ?? providerId,
        displayName: model.displayName ?? model.id,
      })
    }
  }
  return models
}

const toOpenAI = (model: ListedModel) => ({
  id: model.id,
  object: 'model',
  created: model.created,
  owned_by: model.ownedBy,
})

const toAnthropic = (model: ListedModel) => ({
  type: 'model',
  id: model.id,
  display_name: model.displayName,
  created_at: new Date(model.created * 1000).toISOString(),
})

const notFound = (id: string): GatewayError =>
  new GatewayError(
    'not_found',
    `The model \`${id}\` does not exist or you do not have access to it.`,
    {
      openaiCode: 'model_not_found',
      param: 'model',
    }
  )

const anthropicPage = (c: Context<GatewayEnv>, models: ListedModel[]) => {
  const limitText = c.req.query('limit')
  const limit = limitText === undefined ? 20 : Number(limitText)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw invalidRequest('limit: must be an integer from 1 to 1000', 'limit')
  const afterId = c.req.query('after_id')
  const beforeId = c.req.query('before_id')
  let start = 0
  let end = models.length
  if (afterId !== undefined) start = models.findIndex((model) => model.id === afterId) + 1
  if (beforeId !== undefined) {
    end = Math.max(
      0,
      models.findIndex((model) => model.id === beforeId)
    )
    start = Math.max(start, end - limit)
  }
  const page = models.slice(start, Math.min(end, start + limit))
  return {
    data: page.map(toAnthropic),
    has_more: beforeId !== undefined ? start > 0 : start + page.length < end,
    first_id: page[0]?.id ?? null,
    last_id: page.at(-1)?.id ?? null,
  }
}

/** Anthropic's model object (https://docs.claude.com/en/api/models). */
const anthropicModelSchema = z
  .looseObject({
    type: z.enum(['model']),
    id: z.string(),
    display_name: z.string(),
    created_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('AnthropicModel')

const anthropicModelListSchema = z
  .looseObject({
    data: z.array(anthropicModelSchema),
    has_more: z.boolean(),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
  })
  .openapi('AnthropicModelList')

/** The header that asks for Anthropic's shapes, answers and errors alike (`detect-dialect.ts`). */
const dialectHeader = z.object({
  'anthropic-version': z.string().optional().openapi({
    description: "Sent by Anthropic's SDKs: the answer (and an error) comes in Anthropic's shape",
    example: '2023-06-01',
  }),
})

/** Errors in the dialect the request spoke. */
const eitherError = z.union([openAIErrorSchema, anthropicErrorSchema])

export const listModelsRoute = createRoute({
  method: 'get',
  path: '/v1/models',
  tags: ['OpenAI', 'Anthropic'],
  summary:
    'List aliases and every provider model (Anthropic list shape when `anthropic-version` is sent)',
  security: [{ bearerAuth: [] }],
  request: {
    headers: dialectHeader,
    query: z.object({
      limit: z.string().optional().openapi({
        description: "Anthropic's shape only: models per page, 1 to 1000 (default 20)",
      }),
      after_id: z
        .string()
        .optional()
        .openapi({ description: "Anthropic's shape only: the page after this id" }),
      before_id: z
        .string()
        .optional()
        .openapi({ description: "Anthropic's shape only: the page before this id" }),
    }),
  },
  responses: {
    200: {
      description:
        "The models: OpenAI's list, or with `anthropic-version` Anthropic's page (`has_more`, `first_id`, `last_id`)",
      content: {
        'application/json': { schema: z.union([modelListSchema, anthropicModelListSchema]) },
      },
    },
    400: {
      description: "An Anthropic page's `limit` out of range",
      content: { 'application/json': { schema: eitherError } },
    },
    401: {
      description: 'Missing or invalid API key',
      content: { 'application/json': { schema: eitherError } },
    },
  },
})

export const retrieveModelRoute = createRoute({
  method: 'get',
  path: '/v1/models/{id}',
  tags: ['OpenAI', 'Anthropic'],
  summary: 'Retrieve one model; ids with `/` may be sent as `%2F` or literally',
  security: [{ bearerAuth: [] }],
  request: { params: z.object({ id: z.string() }), headers: dialectHeader },
  responses: {
    200: {
      description: "The model, in Anthropic's shape with `anthropic-version`",
      content: {
        'application/json': { schema: z.union([modelSchema, anthropicModelSchema]) },
      },
    },
    401: {
      description: 'Missing or invalid API key',
      content: { 'application/json': { schema: eitherError } },
    },
    404: {
      description: 'Unknown model',
      content: { 'application/json': { schema: eitherError } },
    },
  },
})

export const registerModels = (
  app: OpenAPIHono<GatewayEnv>,
  deps: Deps,
  executor: Executor
): void => {
  const startedAtSeconds = Math.floor(deps.clock.now() / 1000)
  app.openAPIRegistry.registerPath(listModelsRoute)
  app.openAPIRegistry.registerPath(retrieveModelRoute)
  app.get(
    '/v1/models',
    withRouteRateLimitHeaders<'/v1/models'>(deps, async (c) => {
      const models = await listModels(deps, executor, startedAtSeconds)
      if (c.get('dialect') === 'anthropic') return c.json(anthropicPage(c, models))
      return c.json({ object: 'list', data: models.map(toOpenAI) })
    })
  )
  app.get(
    '/v1/models/:id{.+}',
    withRouteRateLimitHeaders<'/v1/models/:id{.+}'>(deps, async (c) => {
      const id = c.req.param('id')
      const models = await listModels(deps, executor, startedAtSeconds)
      let model = models.find((candidate) => candidate.id === id)
      if (!model) {
        const providers = await executor.catalog.providersOf(id)
        if (providers.length === 1)
          model = models.find((candidate) => candidate.id === `${providers[0]}/${id}`)
        if (model) model = { ...model, id }
      }
      if (!model) throw notFound(id)
      return c.json(c.get('dialect') === 'anthropic' ? toAnthropic(model) : toOpenAI(model))
    })
  )
}
