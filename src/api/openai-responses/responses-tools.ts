/**
 * The tools of a Responses request as a converted upstream sees them. Function tools pass; the functions of a
 * `namespace` tool (Codex groups some of its tools so) are flattened to `<namespace>__<name>`, and an answer's call of
 * such a name is mapped back to `{namespace, name}`; tools only OpenAI runs (web search, file search, code
 * interpreter, computer use, image generation, MCP, shells, custom grammar tools, tool search) are left out, and named
 * in the `x-gatehouse-omitted-tools` response header: clients such as Codex send `web_search` on every call, and the
 * model simply cannot call what it is not given. A request whose only tools are such tools is refused (400), since
 * leaving them out would answer a different question.
 * https://platform.openai.com/docs/api-reference/responses/create#responses-create-tools
 */
import type { ToolDefinition } from '../../../providers/spec/chat-types.ts'
import { invalidRequest } from '../../core/errors.ts'
import { isJsonObject } from '../is-json-object.ts'

type Json = Record<string, unknown>

/** Between a namespace and a function name once flattened. */
export const namespaceSeparator = '__'

export const flattenToolName = (namespace: string | undefined, name: string): string =>
  namespace === undefined ? name : `${namespace}${namespaceSeparator}${name}`

const convertFunction = (tool: Json, name: string, param: string): ToolDefinition => {
  if (tool.parameters !== undefined && tool.parameters !== null && !isJsonObject(tool.parameters))
    throw invalidRequest('`parameters` must be a JSON Schema object.', `${param}.parameters`)
  const definition: ToolDefinition = {
    name,
    // A function without `parameters` takes no arguments: the same meaning, spelled out.
    parameters: isJsonObject(tool.parameters)
      ? tool.parameters
      : { type: 'object', properties: {} },
  }
  if (typeof tool.description === 'string') definition.description = tool.description
  if (typeof tool.strict === 'boolean') definition.strict = tool.strict
  return definition
}

const functionName = (tool: Json, param: string): string => {
  if (typeof tool.name !== 'string' || tool.name === '')
    throw invalidRequest('A function tool needs a `name`.', `${param}.name`)
  return tool.name
}

export type ConvertedTools = {
  /** What the converted upstream is given. */
  tools: ToolDefinition[]
  /** Types of the tools left out, in order, each once. */
  omitted: string[]
  /** Flattened name → the namespace and name the client declared; only namespaced functions are in it. */
  namespaced: Map<string, { namespace: string; name: string }>
}

const noTools: ConvertedTools = Object.freeze({
  tools: [],
  omitted: [],
  namespaced: new Map<string, { namespace: string; name: string }>(),
})

/**
 * A request's tools are read three times (the upstream request, the response header, the answer's names); Codex sends
 * dozens. Kept per `tools` array, which no step changes.
 */
const converted = new WeakMap<readonly unknown[], ConvertedTools>()

/**
 * Reads `tools` (absent: none); throws a 400 naming the field for a malformed tool. The result is shared by every
 * reader of the same `tools`: read it, never change it.
 */
export const convertResponsesTools = (tools: unknown): ConvertedTools => {
  if (tools === undefined || tools === null) return noTools
  if (!Array.isArray(tools)) throw invalidRequest('`tools` must be an array.', 'tools')
  let result = converted.get(tools)
  if (result === undefined) {
    result = convertToolList(tools)
    converted.set(tools, result)
  }
  return result
}

const convertToolList = (tools: readonly unknown[]): ConvertedTools => {
  const result: ConvertedTools = { tools: [], omitted: [], namespaced: new Map() }
  const names = new Set<string>()
  const add = (definition: ToolDefinition, param: string): void => {
    if (names.has(definition.name))
      throw invalidRequest(`Two tools are named \`${definition.name}\`.`, param)
    names.add(definition.name)
    result.tools.push(definition)
  }
  for (const [index, tool] of tools.entries()) {
    const param = `tools.${index}`
    if (!isJsonObject(tool) || typeof tool.type !== 'string')
      throw invalidRequest('Each tool must be an object with a `type`.', param)
    if (tool.type === 'function') {
      add(convertFunction(tool, functionName(tool, param), param), `${param}.name`)
    } else if (tool.type === 'namespace') {
      if (typeof tool.name !== 'string' || tool.name === '')
        throw invalidRequest('A namespace tool needs a `name`.', `${param}.name`)
      if (!Array.isArray(tool.tools))
        throw invalidRequest('A namespace tool needs its `tools`.', `${param}.tools`)
      for (const [position, inner] of tool.tools.entries()) {
        const innerParam = `${param}.tools.${position}`
        if (!isJsonObject(inner)) throw invalidRequest('Each tool must be an object.', innerParam)
        if (inner.type !== 'function') {
          if (!result.omitted.includes(`${tool.name}.${String(inner.type)}`))
            result.omitted.push(`${tool.name}.${String(inner.type)}`)
          continue
        }
        const name = functionName(inner, innerParam)
        const flattened = flattenToolName(tool.name, name)
        add(convertFunction(inner, flattened, innerParam), `${innerParam}.name`)
        result.namespaced.set(flattened, { namespace: tool.name, name })
      }
    } else if (!result.omitted.includes(tool.type)) {
      result.omitted.push(tool.type)
    }
  }
  if (result.tools.length === 0 && result.omitted.length > 0) {
    throw invalidRequest(
      `The provider serving this model cannot run the built-in tools this request relies on (${result.omitted.join(', ')}); only function tools can be sent to it.`,
      'tools'
    )
  }
  return result
}
