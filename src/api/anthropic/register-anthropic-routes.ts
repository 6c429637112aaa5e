import type { PromptCache } from '../../core/cache/prompt-cache.ts'
import type { Executor } from '../../core/execute.ts'
import type { Deps } from '../../deps.ts'
import { registerMessages } from './messages.route.ts'
import type { GatewayApi } from '../direct-routes.ts'

export const registerAnthropicRoutes = (
  app: GatewayApi,
  deps: Deps,
  executor: Executor,
  promptCache: PromptCache | null = null
): void => {
  registerMessages(app, deps, executor, promptCache)
}
