/**
 * Validates values against the schemas of OpenAI's published OpenAPI document (../shared/specs/openai-openapi.yaml,
 * beside the repository clone), so tests can prove that what the gateway emits is what OpenAI documents.
 *
 * The document says `openapi: 3.1.0` but mixes 3.1 type unions (`anyOf: [..., {type: 'null'}]`) with 3.0-style
 * `nullable: true` (also next to `$ref`), uses custom formats (`unixtime`) and vendor keywords (`x-oaiMeta`,
 * `x-stainless-const`), OpenAPI's `discriminator` and `example`. Preparation: `nullable: true` becomes
 * `anyOf: [<schema>, {type: 'null'}]`, vendor and OpenAPI-only keywords and unknown formats are dropped, and
 * `#/components/schemas/X` references point into one JSON Schema 2020-12 document (`$defs`) that Ajv compiles per
 * requested schema, lazily, once per process.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ErrorObject, ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { parse } from 'yaml'

const specUrl = new URL('../../../shared/specs/openai-openapi.yaml', import.meta.url)
const rootId = 'https://gatehouse.test/openai-openapi.json'

const mapKeywords = new Set([
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
])
const schemaKeywords = new Set([
  'items',
  'additionalItems',
  'additionalProperties',
  'unevaluatedItems',
  'unevaluatedProperties',
  'not',
  'contains',
  'propertyNames',
  'if',
  'then',
  'else',
])
const listKeywords = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems'])
const droppedKeywords = new Set([
  'discriminator',
  'example',
  'xml',
  'externalDocs',
  '$recursiveAnchor',
])

type SchemaNode = Record<string, unknown>

/**
 * Turns one OpenAPI schema into JSON Schema 2020-12. `owner` is the components.schemas entry it belongs to: the spec
 * writes self-recursion with 2019-09's `$recursiveRef: '#'`, which becomes a plain reference to that entry.
 */
const prepare = (
  schema: unknown,
  context: { owner: string; knownFormats: ReadonlySet<string> }
): unknown => {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema
  const sub = (value: unknown) => prepare(value, context)
  const result: SchemaNode = {}
  let nullable = false
  for (const [key, value] of Object.entries(schema as SchemaNode)) {
    if (key.startsWith('x-') || droppedKeywords.has(key)) continue
    if (key === 'nullable') {
      nullable = value === true
    } else if (key === 'format') {
      if (typeof value === 'string' && context.knownFormats.has(value)) result.format = value
    } else if (key === '$ref' && typeof value === 'string') {
      result.$ref = value.replace('#/components/schemas/', `${rootId}#/$defs/`)
    } else if (key === '$recursiveRef') {
      result.$ref = `${rootId}#/$defs/${context.owner}`
    } else if (key === 'required' && Array.isArray(value)) {
      result.required = [...new Set(value)]
    } else if (
      (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') &&
      typeof value === 'boolean'
    ) {
      // OpenAPI 3.0 booleans: `true` turns the matching minimum/maximum into an exclusive bound.
      continue
    } else if (mapKeywords.has(key) && value !== null && typeof value === 'object') {
      result[key] = Object.fromEntries(
        Object.entries(value as SchemaNode).map(([name, entry]) => [name, sub(entry)])
      )
    } else if (schemaKeywords.has(key)) {
      result[key] = Array.isArray(value) ? value.map(sub) : sub(value)
    } else if (listKeywords.has(key) && Array.isArray(value)) {
      result[key] = value.map(sub)
    } else {
      result[key] = value
    }
  }
  const node = schema as SchemaNode
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (node[flag] === true && typeof node[bound] === 'number') {
      result[flag] = node[bound]
      delete result[bound]
    }
  }
  return nullable ? { anyOf: [result, { type: 'null' }] } : result
}

type Compiled = {
  ajv: Ajv2020
  names: ReadonlySet<string>
  validators: Map<string, ValidateFunction>
}
let compiled: Compiled | undefined

const load = (): Compiled => {
  if (compiled !== undefined) return compiled
  const path = fileURLToPath(specUrl)
  if (!existsSync(path)) {
    throw new Error(
      `OpenAI OpenAPI spec not found at ${path}. Tests expect the shared/ folder beside the repository clone ` +
        '(../shared/specs/openai-openapi.yaml from the repo root).'
    )
  }
  const document = parse(readFileSync(path, 'utf8')) as {
    components?: { schemas?: Record<string, unknown> }
  }
  const schemas = document.components?.schemas
  if (schemas === undefined) throw new Error(`${path} has no components.schemas`)
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
  // ajv-formats is CommonJS: depending on the loader its default import is the plugin or a namespace holding it.
  const plugin = addFormatsModule as unknown as { default?: unknown }
  const addFormats = (plugin.default ?? plugin) as (instance: Ajv2020) => Ajv2020
  addFormats(ajv)
  const knownFormats = new Set(Object.keys(ajv.formats))
  const defs = Object.fromEntries(
    Object.entries(schemas).map(([owner, schema]) => [
      owner,
      prepare(schema, { owner, knownFormats }),
    ])
  )
  ajv.addSchema({ $id: rootId, $defs: defs })
  compiled = { ajv, names: new Set(Object.keys(schemas)), validators: new Map() }
  return compiled
}

const formatError = (error: ErrorObject): string => {
  const where = error.instancePath === '' ? '(root)' : error.instancePath
  const detail =
    error.keyword === 'additionalProperties'
      ? ` '${String(error.params.additionalProperty)}'`
      : error.keyword === 'enum'
        ? ` ${JSON.stringify(error.params.allowedValues)}`
        : ''
  return `${where} ${error.message ?? error.keyword}${detail}`
}

/** Parses and prepares the spec now (a few seconds for the 3 MB YAML), e.g. in a `beforeAll`, instead of in the first test. */
export const preloadOpenAIValidator = (): void => {
  load()
}

/** Validates `value` against `components.schemas[schemaName]`; `errors` are readable lines, empty when valid. */
export const validateOpenAI = (
  schemaName: string,
  value: unknown
): { valid: boolean; errors: string[] } => {
  const { ajv, names, validators } = load()
  if (!names.has(schemaName))
    throw new Error(`No schema named ${schemaName} in the OpenAI OpenAPI spec`)
  let validate = validators.get(schemaName)
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `${rootId}#/$defs/${schemaName}` })
    validators.set(schemaName, validate)
  }
  const valid = validate(value)
  return { valid, errors: valid ? [] : [...new Set((validate.errors ?? []).map(formatError))] }
}

/** Throws, listing every violation, unless `value` matches `components.schemas[schemaName]`. */
export const expectValidOpenAI = (schemaName: string, value: unknown): void => {
  const { valid, errors } = validateOpenAI(schemaName, value)
  if (!valid) {
    throw new Error(
      `Not a valid OpenAI ${schemaName}:\n  ${errors.join('\n  ')}\nvalue: ${JSON.stringify(value)}`
    )
  }
}
