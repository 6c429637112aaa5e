/**
 * What a client asked for, apart from how it will reach an upstream. The client's protocol is fixed by the
 * operation (a `/v1/messages` call speaks Anthropic); the upstream's wire format is the adapter's business, and an
 * adapter declares which operations it can forward natively (`ProviderAdapter.forwards`). Every other target is
 * reached by conversion through the canonical chat types.
 */
import type { Dialect } from './chat-types.ts'

export type Operation =
  /** OpenAI `POST /v1/chat/completions`. */
  | 'chat-completions'
  /** Anthropic `POST /v1/messages`. */
  | 'messages'
  /** Anthropic `POST /v1/messages/count_tokens`. */
  | 'count-tokens'
  /** OpenAI `POST /v1/embeddings`. */
  | 'embeddings'
  /** OpenAI `POST /v1/responses` (the Responses API issue). */
  | 'responses'

/** The protocol each operation's client speaks: its error shape, its stream framing, its codec. */
export const operationDialect: Readonly<Record<Operation, Dialect>> = {
  'chat-completions': 'openai',
  messages: 'anthropic',
  'count-tokens': 'anthropic',
  embeddings: 'openai',
  responses: 'openai',
}

/** Operations that answer with generated text (and so may stream, and are converted through the canonical chat types). */
export const isGenerative = (operation: Operation): boolean =>
  operation === 'chat-completions' || operation === 'messages' || operation === 'responses'
