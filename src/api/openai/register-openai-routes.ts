import type { PromptCache } from '../../core/cache/prompt-cache.ts'
import type { Executor } from '../../core/execute.ts'
import type { Deps } from '../../deps.ts'
import { registerChatCompletions } from './chat-completions.route.ts'
import { registerEmbeddings } from './embeddings.route.ts'
import { registerModels } from './models.route.ts'
import { registerResponses } from '../openai-responses/responses.route.ts'
import type { GatewayApi } from '../direct-routes.ts'

export const registerOpenAIRoutes = (
  app: GatewayApi,
  deps: Deps,
  executor: Executor,
  promptCache: PromptCache | null = null
): void => {
  registerChatCompletions(app, deps, executor, promptCache)
  registerEmbeddings(app, deps, executor, promptCache)
  registerResponses(app, deps, executor, promptCache)
  registerModels(app, deps, executor)
}
