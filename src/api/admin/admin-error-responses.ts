import { openAIErrorSchema } from '../openai/openai-schemas.ts'

const content = { 'application/json': { schema: openAIErrorSchema } }

/** The error responses every admin route documents, in OpenAI's error shape (what `on-error.ts` answers them in). */
export const adminErrorResponses = {
  400: { description: 'Invalid input; `param` names the field', content },
  401: { description: 'Missing or invalid API key', content },
  403: { description: 'A tenant key: the admin API takes the master key only', content },
  404: { description: 'No such tenant or key', content },
  501: { description: 'No database in this runtime (Workers): master-key mode', content },
} as const

/** A name (or, in theory, a key hash) already taken. */
export const conflictResponse = { description: 'The name is taken', content } as const
