import type { Context } from 'hono'
import type { ZodError } from 'zod'
import { GatewayError } from '../core/errors.ts'
import { fieldNestedTooDeep, maxJsonDepth } from './field-nested-too-deep.ts'
import { isJsonObject } from './is-json-object.ts'

type HookResult =
  | { success: true; data?: unknown; target?: string }
  | { success: false; error: ZodError; target?: string }

const subjects: Record<string, string> = {
  json: 'Invalid request body',
  query: 'Invalid query parameter',
  param: 'Invalid path parameter',
}

const describePath = (path: readonly PropertyKey[]): string => path.map(String).join('.')

/** The field an issue is about: a misspelt field is named by its own path (`limits.rmp`), not its parent's. */
const issueField = (issue: ZodError['issues'][number]): string | null => {
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path
  return path.length === 0 ? null : describePath(path)
}

/**
 * One `defaultHook` for every route: a zod failure becomes a 400 in the client's dialect that names the failing
 * field (`messages.2.role: Invalid option...`), thrown to `on-error.ts`. `param` names it too (for a field that has no
 * place in a strict schema, the field itself), and the message says whether the body, the query or the path failed.
 *
 * A valid JSON body nested deeper than `maxJsonDepth` is a 400 too, naming the top-level field. Such a body parses
 * (V8's `JSON.parse` is not recursive) and passes the schemas (they stop at known fields), but the recursive steps
 * after them, `JSON.stringify` when it is forwarded first, overflow the stack: the client got a 502 blaming the
 * provider. The check walks the value the validator parsed, so the body is still parsed once.
 */
export const validationHook = (result: HookResult, _c: Context): void => {
  if (result.success) {
    if (result.target !== 'json' || !isJsonObject(result.data)) return
    const field = fieldNestedTooDeep(result.data, maxJsonDepth)
    if (field === null) return
    throw new GatewayError(
      'invalid_request',
      `Invalid request body: \`${field}\` nests objects and arrays deeper than the gateway accepts (at most ${maxJsonDepth} levels, counting the body).`,
      { param: field }
    )
  }
  const issues = result.error.issues
  const first = issues[0]
  const param = first ? issueField(first) : null
  const message = issues
    .slice(0, 5)
    .map((issue) =>
      issue.path.length > 0 ? `${describePath(issue.path)}: ${issue.message}` : issue.message
    )
    .join('; ')
  const subject = subjects[result.target ?? 'json'] ?? 'Invalid request'
  throw new GatewayError('invalid_request', `${subject}: ${message}`, { param })
}
