/**
 * `/openapi.json` as users reach it: the document lists every public route and is internally consistent, and needs no
 * key. The `/docs` page that renders it is driven in a real browser in test/browser/docs-page.test.ts.
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { ServerType } from '@hono/node-server'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { systemClock } from '../../src/core/clock.ts'
import { silentLogger } from '../../src/core/logger.ts'
import type { Deps } from '../../src/deps.ts'
import { createNodeAssets } from '../../src/runtime/node-assets.ts'
import { createMasterKeyAuthenticator } from '../../src/middleware/master-key-authenticator.ts'
import { createFakeAdapter, createFakeDeps } from '../helpers/fake-deps.ts'

const publicPaths = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/models',
  '/v1/messages',
  '/v1/messages/count_tokens',
  '/v1/responses',
  '/v1/responses/{id}',
  '/v1/responses/{id}/input_items',
  '/v1/responses/{id}/cancel',
  '/v1/usage',
  '/admin/v1/tenants',
  '/admin/v1/keys',
  '/admin/v1/usage',
  '/admin/v1/cache/entries/{key}',
  '/admin/v1/cache/purge',
]
const masterKey = 'docs-master-key'
const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

const createDocsDeps = (): Deps => ({
  ...createFakeDeps({
    adapters: [
      createFakeAdapter({
        id: 'openai',
        listModels: async () => [{ id: 'gpt-4o-mini', created: 1_721_172_741, ownedBy: 'system' }],
      }),
    ],
    authenticator: createMasterKeyAuthenticator(masterKey),
  }),
  clock: systemClock,
  logger: silentLogger,
  assets: createNodeAssets(),
})

type Json = Record<string, unknown>

/** Follows a local `$ref` (`#/components/schemas/X`, JSON Pointer escapes included); `undefined` when it dangles. */
const resolvePointer = (document: Json, ref: string): unknown =>
  ref
    .slice(2)
    .split('/')
    .map((segment) => decodeURIComponent(segment).replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>(
      (node, key) => (node !== null && typeof node === 'object' ? (node as Json)[key] : undefined),
      document
    )

/** Problems that make an OpenAPI 3 document unusable by tools (Swagger UI, client generators). */
const openAPIProblems = (document: Json): string[] => {
  const problems: string[] = []
  if (typeof document.openapi !== 'string' || !/^3\.\d+\.\d+$/.test(document.openapi))
    problems.push('openapi: not 3.x.y')
  const info = document.info as Json | undefined
  if (typeof info?.title !== 'string' || typeof info.version !== 'string')
    problems.push('info: title and version required')
  const paths = document.paths as Record<string, Json> | undefined
  if (!paths || typeof paths !== 'object') return [...problems, 'paths: missing']
  const operationIds = new Set<string>()
  for (const [path, item] of Object.entries(paths)) {
    if (!path.startsWith('/')) problems.push(`paths.${path}: must start with /`)
    for (const method of methods.filter((name) => name in item)) {
      const operation = item[method] as Json
      const responses = operation.responses as Json | undefined
      if (!responses || Object.keys(responses).length === 0)
        problems.push(`${method} ${path}: no responses`)
      const id = operation.operationId
      if (typeof id === 'string') {
        if (operationIds.has(id)) problems.push(`${method} ${path}: duplicate operationId ${id}`)
        operationIds.add(id)
      }
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1])
      const declared = [
        ...((item.parameters as Json[] | undefined) ?? []),
        ...((operation.parameters as Json[] | undefined) ?? []),
      ]
      for (const name of templated) {
        if (!declared.some((parameter) => parameter.in === 'path' && parameter.name === name)) {
          problems.push(`${method} ${path}: path parameter {${name}} not declared`)
        }
      }
    }
  }
  const visit = (node: unknown, at: string): void => {
    if (Array.isArray(node)) node.forEach((child, index) => visit(child, `${at}[${index}]`))
    else if (node !== null && typeof node === 'object') {
      const ref = (node as Json).$ref
      if (
        typeof ref === 'string' &&
        (!ref.startsWith('#/') || resolvePointer(document, ref) === undefined)
      ) {
        problems.push(`${at}: unresolvable $ref ${ref}`)
      }
      for (const [key, child] of Object.entries(node)) visit(child, `${at}.${key}`)
    }
  }
  visit(document, '$')
  return problems
}

let server: ServerType | undefined
let origin = ''
const app = createApp(createDocsDeps())

beforeAll(async () => {
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      origin = `http://127.0.0.1:${info.port}`
      resolve()
    })
  })
})

afterAll(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
})

describe('GET /openapi.json', () => {
  it('is a consistent OpenAPI 3 document listing every public route', async () => {
    const response = await app.request('/openapi.json')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('application/json')
    const document = (await response.json()) as Json
    expect(openAPIProblems(document)).toEqual([])
    const paths = document.paths as Record<string, Json>
    for (const path of publicPaths) {
      expect(Object.keys(paths), path).toContain(path)
      expect(paths[path].post ?? paths[path].get ?? paths[path].delete, path).toBeDefined()
    }
    expect(paths['/v1/chat/completions'].post).toBeDefined()
    expect(paths['/v1/messages'].post).toBeDefined()
    expect(paths['/v1/models'].get).toBeDefined()
    expect(paths['/v1/responses/{id}/cancel'].post).toBeDefined()
    // The version it states is the package's, not a copy that drifts from it.
    const packageJson = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
    ) as { version: string }
    expect((document.info as Json).version).toBe(packageJson.version)
  })

  it("describes /v1/models in both dialects' shapes, as the answers are", async () => {
    const document = (await (await app.request('/openapi.json')).json()) as Json
    // The document is OpenAPI 3.1: its schemas are JSON Schema 2020-12, which Ajv compiles as they are.
    const ajv = new Ajv2020({ strict: false, allErrors: true })
    const plugin = addFormatsModule as unknown as { default?: unknown }
    ;((plugin.default ?? plugin) as (instance: Ajv2020) => Ajv2020)(ajv)
    ajv.addSchema(document, 'gatehouse')
    const schemaOf = (path: string, status: number) =>
      ajv.compile({
        $ref: `gatehouse#/paths/${path.replaceAll('~', '~0').replaceAll('/', '~1')}/get/responses/${status}/content/application~1json/schema`,
      })
    const anthropic = { 'anthropic-version': '2023-06-01' }
    const checks = [
      { path: '/v1/models', url: '/v1/models', status: 200, headers: {} },
      { path: '/v1/models', url: '/v1/models?limit=1', status: 200, headers: anthropic },
      { path: '/v1/models', url: '/v1/models?limit=0', status: 400, headers: anthropic },
      { path: '/v1/models/{id}', url: '/v1/models/nowhere', status: 404, headers: {} },
      { path: '/v1/models/{id}', url: '/v1/models/nowhere', status: 404, headers: anthropic },
    ]
    for (const check of checks) {
      const response = await app.request(check.url, {
        headers: { authorization: `Bearer ${masterKey}`, ...check.headers },
      })
      expect(response.status, check.url).toBe(check.status)
      const body = (await response.json()) as Json
      const validate = schemaOf(check.path, check.status)
      expect(validate(body), `${check.url} ${JSON.stringify(validate.errors)}`).toBe(true)
    }
    const listed = (await (
      await app.request('/v1/models', { headers: { authorization: `Bearer ${masterKey}` } })
    ).json()) as { data: { id: string }[] }
    for (const headers of [{}, anthropic]) {
      const one = await app.request(`/v1/models/${listed.data[0].id}`, {
        headers: { authorization: `Bearer ${masterKey}`, ...headers },
      })
      expect(one.status).toBe(200)
      const validate = schemaOf('/v1/models/{id}', 200)
      expect(validate(await one.json()), JSON.stringify(validate.errors)).toBe(true)
    }
  })

  it("documents an Anthropic error with the upstream's details, as the same-dialect route sends them", async () => {
    const document = (await (await app.request('/openapi.json')).json()) as Json
    const ajv = new Ajv2020({ strict: false, allErrors: true })
    ajv.addSchema(document, 'gatehouse')
    const validate = ajv.compile({ $ref: 'gatehouse#/components/schemas/AnthropicError' })
    const body = {
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: 'Spend limit reached.',
        details: { error_code: 'enforced_spend_limit_reached' },
      },
      request_id: 'req_1',
    }
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true)
    const schemas = (document.components as Json).schemas as Json
    const error = ((schemas.AnthropicError as Json).properties as Json).error as Json
    expect(error.properties).toHaveProperty('details')
  })

  it('needs no key, like the page that loads it', async () => {
    const response = await fetch(`${origin}/openapi.json`)
    expect(response.status).toBe(200)
  })
})
