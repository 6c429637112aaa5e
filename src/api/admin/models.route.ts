/**
 * Model versions of the models the gateway runs itself (the local model): `GET /admin/v1/models` (each model's
 * versions on disk, the one serving and why, and those still finishing calls), `POST /admin/v1/models/{model}/activate`
 * with `{version}` (load it, then send new calls to it; the calls running finish on the version they started on), and
 * `DELETE /admin/v1/models/{model}/activation` (back to the config's pin, else the highest version). `{model}` is
 * `provider/model` with its slash as `%2F` (`local%2Fgatehouse-tiny`), or a model's name alone when one provider
 * serves it. An activation is kept in the database: a restart keeps it, and the other gateway processes on the
 * database follow it within seconds (`core/model-version-manager.ts`).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import {
  createModelVersionManager,
  type ModelVersionEntry,
  type ModelVersionManager,
} from '../../core/model-version-manager.ts'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { openAIErrorSchema } from '../openai/openai-schemas.ts'
import { adminErrorResponses } from './admin-error-responses.ts'

const common = { tags: ['Admin'], security: [{ bearerAuth: [] }] }
const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })
const errorContent = json(openAIErrorSchema)

/** A version folder's name: one path segment (`2`, `2025-06-01`, `1.1`), never `.` or `..`. */
const versionShape = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/

const modelParams = z.object({
  model: z.string().min(1).openapi({
    description: '`provider/model` (the slash as `%2F`), or the model name alone',
    example: 'local/gatehouse-tiny',
  }),
})

export const activateVersionSchema = z
  .strictObject({
    version: z
      .string()
      .regex(versionShape, 'a version is the name of a version folder: letters, digits, ., - and _')
      .openapi({
        description: 'The version folder to serve (`models/<model>/<version>/`)',
        example: '2',
      }),
  })
  .openapi('ModelVersionActivation')

export const modelVersionsSchema = z
  .object({
    object: z.literal('model.versions'),
    id: z.string().openapi({
      description: '`provider/model`, as clients name it',
      example: 'local/gatehouse-tiny',
    }),
    provider: z.string(),
    model: z.string(),
    active_version: z.string().nullable().openapi({
      description: 'The version new calls go to; `null` for a model folder without version folders',
    }),
    source: z.enum(['default', 'config', 'activation']).openapi({
      description:
        "Why it serves: `default` (the highest version), `config` (pinned by the provider's `versions`), `activation` (activated through this API, kept across restarts)",
    }),
    versions: z
      .array(z.string())
      .openapi({ description: 'The version folders on disk, lowest first' }),
    draining_versions: z.array(z.string()).openapi({
      description:
        'Versions an activation replaced that still finish calls they started (this process)',
    }),
  })
  .openapi('ModelVersions')

export const modelVersionsListSchema = z
  .object({ object: z.literal('list'), data: z.array(modelVersionsSchema) })
  .openapi('ModelVersionsList')

export type WireModelVersions = z.infer<typeof modelVersionsSchema>

const modelErrorResponses = {
  ...adminErrorResponses,
  400: {
    description:
      'The version cannot be served (its folder is broken, or it fails to load): the version serving goes on serving',
    ...errorContent,
  },
  404: { description: 'No such model, or no such version of it', ...errorContent },
  503: {
    description:
      'The database did not keep the choice: it serves on the process that answered only',
    ...errorContent,
  },
} as const

export const listModelVersionsRoute = createRoute({
  ...common,
  method: 'get',
  path: '/admin/v1/models',
  summary:
    'The models the gateway runs itself (the local model), with their versions and the one serving',
  responses: {
    200: { description: 'Each model and its versions', ...json(modelVersionsListSchema) },
    ...adminErrorResponses,
  },
})

export const activateModelVersionRoute = createRoute({
  ...common,
  method: 'post',
  path: '/admin/v1/models/{model}/activate',
  summary:
    'Serve another version of a model: loaded first, then new calls go to it; calls running finish on their version',
  request: { params: modelParams, body: { required: true, ...json(activateVersionSchema) } },
  responses: {
    200: { description: 'The model, its new version serving', ...json(modelVersionsSchema) },
    ...modelErrorResponses,
  },
})

export const resetModelVersionRoute = createRoute({
  ...common,
  method: 'delete',
  path: '/admin/v1/models/{model}/activation',
  summary:
    "Forget a model's activation: the config's pinned version, else the highest, serves again",
  request: { params: modelParams },
  responses: {
    200: { description: 'The model, as it serves now', ...json(modelVersionsSchema) },
    ...modelErrorResponses,
  },
})

const toWire = (entry: ModelVersionEntry): WireModelVersions => ({
  object: 'model.versions',
  id: entry.id,
  provider: entry.provider,
  model: entry.model,
  active_version: entry.active,
  source: entry.source,
  versions: entry.available,
  draining_versions: entry.draining,
})

export const registerModelVersionRoutes = (app: OpenAPIHono<GatewayEnv>, deps: Deps): void => {
  const manager: ModelVersionManager =
    deps.modelVersions ??
    createModelVersionManager({
      providers: deps.providers,
      store: deps.stores.modelVersions,
      clock: deps.clock,
      logger: deps.logger,
    })

  app.openapi(listModelVersionsRoute, (c) =>
    c.json({ object: 'list' as const, data: manager.list().map(toWire) }, 200)
  )

  app.openapi(activateModelVersionRoute, async (c) => {
    const { model } = c.req.valid('param')
    return c.json(toWire(await manager.activate(model, c.req.valid('json').version)), 200)
  })

  app.openapi(resetModelVersionRoute, async (c) =>
    c.json(toWire(await manager.reset(c.req.valid('param').model)), 200)
  )
}
