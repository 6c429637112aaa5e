/**
 * The canonical embeddings types: how an embeddings request reaches a provider that has no OpenAI-shaped embeddings
 * endpoint to forward it to (`ProviderAdapter.embed`: the local model). A provider that has one gets the client's body
 * forwarded byte for byte instead (`forwards: ['embeddings']`), and never sees these.
 *
 * Only what changes the vectors is here: the inputs, and `dimensions`. How they travel back (OpenAI's `float` or
 * `base64`) is the client protocol's business, and `user` changes nothing.
 * https://platform.openai.com/docs/api-reference/embeddings/create
 */
import type { Usage } from './chat-types.ts'

/** One input: a text, or token ids in the model's own vocabulary (taken as given: no special token added). */
export type EmbedInput = string | readonly number[]

export type EmbedRequest = {
  /** Upstream model name (already resolved by the router: no `provider/` prefix). */
  model: string
  /** In the client's order; never empty. */
  inputs: readonly EmbedInput[]
  /**
   * How many dimensions the client wants (OpenAI's `dimensions`); absent: the model's own. A provider that cannot
   * give that many refuses with a 400 rather than returning another size.
   */
  dimensions?: number
}

export type EmbedResult = {
  /** The model that answered, as the provider names it. */
  model: string
  /** One vector per input, in input order. */
  embeddings: Float32Array[]
  /** Input tokens: the tokens embedded, summed over the inputs; output tokens 0. */
  usage: Usage
}
