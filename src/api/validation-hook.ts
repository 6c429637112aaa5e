import type { Context } from 'hono'
import type { ZodError } from 'zod'
import { GatewayError } from '../core/errors.ts'

type HookResult = { success: true } | { success: false; error: ZodError }

const describePath = (path: readonly PropertyKey[]): string => path.map(String).join('.')

/**
 * One `defaultHook` for every route: a zod failure becomes a 400 in the client's dialect that names the failing
 * field (`messages.2.role: Invalid option...`), thrown to `on-error.ts`.
 */
export const validationHook = (result: HookResult, _c: Context): void => {
  if (result.success) return
  const issues = result.error.issues
  const first = issues[0]
  const param = first ? describePath(first.path) : null
  const message = issues
    .slice(0, 5)
    .map((issue) => (issue.path.length > 0 ? `${describePath(issue.path)}: ${issue.message}` : issue.message))
    .join('; ')
  throw new GatewayError('invalid_request', `Invalid request body: ${message}`, { param })
}
