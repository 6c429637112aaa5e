import type { OpenAPIHono } from '@hono/zod-openapi'
import type { PromptCache } from '../../core/cache/prompt-cache.ts'
import type { Executor } from '../../core/execute.ts'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { registerMessages } from './messages.route.ts'

export const registerAnthropicRoutes = (
  app: OpenAPIHono<GatewayEnv>,
  deps: Deps,
  executor: Executor,
  promptCache: PromptCache | null = null
): void => {
  registerMessages(app, deps, executor, promptCache)
}
